"""Declared parameters of the compressors and their validation.

Unknown or ill-typed parameters are refused with a message naming the
parameter, so a typo in a pipeline file never silently falls back to a default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lmops_core.errors import ValidationError


@dataclass(frozen=True)
class Param:
    """One accepted parameter: its type, default and allowed range or choices."""

    name: str
    kind: type
    default: Any
    description: str
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    nullable: bool = False


def validate_params(
    params: Mapping[str, Any], specs: Sequence[Param], *, operation: str
) -> dict[str, Any]:
    """Return every declared parameter, given or defaulted; refuse unknown or invalid ones."""
    known = {spec.name: spec for spec in specs}
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValidationError(
            f'operation "{operation}": unknown parameter "{unknown[0]}" '
            f"(accepted: {', '.join(sorted(known))})",
            param=unknown[0],
        )
    return {spec.name: _check(spec, params.get(spec.name, spec.default), operation)
            for spec in specs}


def _check(spec: Param, value: Any, operation: str) -> Any:
    where = f'operation "{operation}": parameter "{spec.name}"'
    if value is None and spec.nullable:
        return None
    # bool is an int subclass: refuse True where a count is expected.
    if spec.kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValidationError(f"{where} must be an integer, got {value!r}", param=spec.name)
    if spec.kind is bool and not isinstance(value, bool):
        raise ValidationError(f"{where} must be true or false, got {value!r}", param=spec.name)
    if spec.kind is str and not isinstance(value, str):
        raise ValidationError(f"{where} must be a string, got {value!r}", param=spec.name)
    if spec.choices and value not in spec.choices:
        raise ValidationError(
            f"{where} must be one of {', '.join(spec.choices)}, got {value!r}", param=spec.name
        )
    if spec.minimum is not None and value < spec.minimum:
        raise ValidationError(f"{where} must be >= {spec.minimum}, got {value!r}", param=spec.name)
    if spec.maximum is not None and value > spec.maximum:
        raise ValidationError(f"{where} must be <= {spec.maximum}, got {value!r}", param=spec.name)
    return value


MEASUREMENT_PARAMS: tuple[Param, ...] = (
    Param("threads", int, None, "intra-op threads for ORT and torch (default: library's)",
          minimum=1, nullable=True),
    Param("latency_repeats", int, 5, "passes over the prompt set when timing", minimum=1,
          maximum=1000),
    Param("max_eval_records", int, 32, "held-out records used for perplexity", minimum=1),
    Param("max_eval_tokens", int, 128, "tokens kept per held-out record", minimum=2),
)

EXPORT_PARAMS: tuple[Param, ...] = (
    Param("opset", int, 18, "ONNX opset of the exported graph", minimum=18, maximum=23),
    *MEASUREMENT_PARAMS,
)

INT8_PARAMS: tuple[Param, ...] = (
    Param("mode", str, "dynamic", "dynamic (no data) or static (calibrated)",
          choices=("dynamic", "static")),
    Param("per_channel", bool, False, "one weight scale per output channel"),
    Param("reduce_range", bool, False, "7-bit weights, for CPUs without VNNI"),
    Param("calibration_records", int, 32, "records read from the calibration dataset",
          minimum=1),
    *EXPORT_PARAMS,
)
