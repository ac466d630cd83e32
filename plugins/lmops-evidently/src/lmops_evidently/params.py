"""The drift monitor's parameters, validated with errors that name the parameter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evidently.legacy.calculations.stattests.registry import get_registered_stattest
from evidently.legacy.core import ColumnType

from lmops_core.errors import ValidationError

DESCRIPTORS: tuple[str, ...] = ("length", "words", "oov_rate", "lang", "refusal", "pii")
"""Text descriptors the monitor can compute for each text field."""


@dataclass(frozen=True)
class DriftParams:
    """Validated parameters of the ``drift`` monitor (see the plugin README)."""

    drift_share: float = 0.5
    method: str | None = None
    num_method: str | None = None
    cat_method: str | None = None
    threshold: float | None = None
    text_fields: tuple[str, ...] | None = None
    exclude_fields: tuple[str, ...] = ()
    descriptors: tuple[str, ...] | None = None
    max_categories: int = 50
    chunk_size: int = 10_000
    sample_rows: int | None = None
    seed: int | None = None
    pii_rows: int = 1_000
    embedding_fields: tuple[str, ...] | None = None
    embedding_rows: int = 500


_FIELDS = tuple(DriftParams.__dataclass_fields__)
_NULLABLE = frozenset(
    (
        "method",
        "num_method",
        "cat_method",
        "threshold",
        "text_fields",
        "descriptors",
        "sample_rows",
        "seed",
    )
)


def _number(name: str, value: Any, *, low: float, high: float, low_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f'param "{name}" must be a number, got {value!r}', param=name)
    ok = (value > low if low_open else value >= low) and value <= high
    if not ok:
        bound = "(" if low_open else "["
        raise ValidationError(
            f'param "{name}" must lie in {bound}{low}, {high}], got {value!r}', param=name
        )
    return float(value)


def _integer(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(
            f'param "{name}" must be an integer >= {minimum}, got {value!r}', param=name
        )
    return value


def _names(name: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValidationError(f'param "{name}" must be a list of field names', param=name)
    for item in value:
        if not isinstance(item, str) or not item:
            raise ValidationError(
                f'param "{name}" must hold non-empty strings, got {item!r}', param=name
            )
    return tuple(value)


def _method(name: str, value: Any, types: tuple[ColumnType, ...]) -> str:
    if not isinstance(value, str):
        raise ValidationError(f'param "{name}" must be a stattest name, got {value!r}', param=name)
    for column_type in types:
        try:
            get_registered_stattest(value, column_type)
        except ValueError as exc:  # evidently's own message lists the known tests
            raise ValidationError(f'param "{name}": {exc}', param=name) from exc
    return value


def parse_params(raw: Mapping[str, Any]) -> DriftParams:
    """Check ``raw`` (a run's params) and return :class:`DriftParams`.

    Raises :class:`~lmops_core.errors.ValidationError` naming the first unknown
    or invalid parameter.
    """
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise ValidationError(
            f'unknown param "{unknown[0]}" for monitor "drift" (known: {", ".join(_FIELDS)})',
            param=unknown[0],
        )
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None:
            if name not in _NULLABLE:
                raise ValidationError(f'param "{name}" must not be null', param=name)
            values[name] = None
            continue
        values[name] = _parse_one(name, value)
    return DriftParams(**values)


def _parse_one(name: str, value: Any) -> Any:
    num, cat = ColumnType.Numerical, ColumnType.Categorical
    if name == "drift_share":
        return _number(name, value, low=0.0, high=1.0, low_open=True)
    if name == "threshold":
        return _number(name, value, low=0.0, high=float("inf"), low_open=True)
    if name == "method":
        # One method for every column: it must apply to numbers and categories alike.
        return _method(name, value, (num, cat))
    if name == "num_method":
        return _method(name, value, (num,))
    if name == "cat_method":
        return _method(name, value, (cat,))
    if name in ("text_fields", "exclude_fields", "embedding_fields"):
        return _names(name, value)
    if name == "descriptors":
        chosen = _names(name, value)
        for item in chosen:
            if item not in DESCRIPTORS:
                raise ValidationError(
                    f'param "descriptors": unknown descriptor "{item}" '
                    f"(known: {', '.join(DESCRIPTORS)})",
                    param=name,
                )
        return chosen
    if name == "max_categories":
        return _integer(name, value, minimum=2)
    if name == "seed":
        return _integer(name, value, minimum=0)
    # chunk_size, sample_rows, pii_rows
    return _integer(name, value, minimum=1)
