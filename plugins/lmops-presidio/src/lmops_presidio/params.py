"""Parameters of the ``pii-redact`` step, checked and turned into a :class:`GuardConfig`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lmops_core.errors import ValidationError
from lmops_presidio.config import GuardConfig, parse_operator

STEP_PARAMS: Mapping[str, str] = {
    "entities": "list of entity types to detect (default: all the engine supports)",
    "ner_model": "spaCy model package or folder for PERSON/LOCATION; null for patterns only",
    "score_threshold": "minimum score of a finding (default 0.4)",
    "thresholds": "per-entity minimum scores, e.g. {US_SSN: 0.5}",
    "operators": 'per-entity operator, "replace" | "mask" | "hash" or a mapping; key "default"',
    "salt": "secret salt of hash operators (16+ bytes); prefer salt_env",
    "salt_env": "name of an environment variable holding the salt",
    "phone_regions": "region codes presidio's phone recognizer tries",
    "batch_size": "texts per NER batch (default 256)",
    "workers": "worker processes (default 1: in this process)",
    "chunk_size": "records handed to a worker at a time (default 1000)",
}
"""Every parameter the step accepts, with what it means."""


@dataclass(frozen=True)
class StepSettings:
    """What the step runs with: the guard config plus how to parallelise."""

    guard: GuardConfig
    workers: int = 1
    chunk_size: int = 1000


def parse_step_params(params: Mapping[str, Any]) -> StepSettings:
    """Check the step's params; a :class:`ValidationError` names any bad one."""
    unknown = sorted(set(params) - set(STEP_PARAMS))
    if unknown:
        raise ValidationError(
            f"pii-redact: unknown param(s) {', '.join(unknown)} "
            f"(accepted: {', '.join(STEP_PARAMS)})"
        )
    kwargs: dict[str, Any] = {}
    if "entities" in params and params["entities"] is not None:
        kwargs["entities"] = tuple(_str_list(params["entities"], "entities"))
    if "ner_model" in params:
        model = params["ner_model"]
        if model is not None and (not isinstance(model, str) or not model):
            raise ValidationError("ner_model: must be a model name, a path, or null")
        kwargs["ner_model"] = model
    if "score_threshold" in params:
        kwargs["score_threshold"] = params["score_threshold"]
    if "thresholds" in params:
        kwargs["thresholds"] = _mapping(params["thresholds"], "thresholds")
    if "operators" in params:
        operators = dict(_mapping(params["operators"], "operators"))
        default = operators.pop("default", None)
        if default is not None:
            kwargs["default_operator"] = parse_operator("operators.default", default)
        kwargs["operators"] = {
            str(name): parse_operator(f"operators.{name}", spec) for name, spec in operators.items()
        }
    salt = _salt(params)
    if salt is not None:
        kwargs["salt"] = salt
    if "phone_regions" in params:
        kwargs["phone_regions"] = tuple(_str_list(params["phone_regions"], "phone_regions"))
    if "batch_size" in params:
        kwargs["batch_size"] = _positive_int(params["batch_size"], "batch_size")
    guard = GuardConfig(**kwargs)
    return StepSettings(
        guard=guard,
        workers=_positive_int(params.get("workers", 1), "workers"),
        chunk_size=_positive_int(params.get("chunk_size", 1000), "chunk_size"),
    )


def _salt(params: Mapping[str, Any]) -> str | None:
    if "salt" in params and "salt_env" in params:
        raise ValidationError("salt: give either salt or salt_env, not both")
    if "salt_env" in params:
        name = params["salt_env"]
        if not isinstance(name, str) or not name:
            raise ValidationError("salt_env: must name an environment variable")
        value = os.environ.get(name)
        if not value:
            raise ValidationError(f'salt_env: environment variable "{name}" is not set')
        return value
    salt = params.get("salt")
    if salt is not None and not isinstance(salt, str):
        raise ValidationError("salt: must be a string")
    return salt


def _str_list(value: object, name: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValidationError(f"{name}: must be a list of strings")
    if not all(isinstance(item, str) for item in value):
        raise ValidationError(f"{name}: must be a list of strings")
    return list(value)


def _mapping(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(f"{name}: must be a mapping of entity type to value")
    return value


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{name}: must be a positive integer, got {value!r}")
    return value
