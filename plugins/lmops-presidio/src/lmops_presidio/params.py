"""Parameters of the ``pii-redact`` step: a model the core validates, then a :class:`GuardConfig`.

The core refuses unknown or ill-typed parameters before the step runs (an error
naming the parameter); :func:`step_settings` turns the validated values into
the guard's configuration, whose own checks (known entity types, operator
options, salt length) name the setting at fault.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from lmops_core.contracts import OperationParams
from lmops_core.errors import ValidationError
from lmops_presidio.config import (
    DEFAULT_NER_MODEL,
    DEFAULT_SCORE_THRESHOLD,
    GuardConfig,
    parse_operator,
)
from lmops_presidio.locales import INTERNATIONAL_ONLY, declared_phone_regions

NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class PiiRedactParams(OperationParams):
    """Every parameter ``pii-redact`` accepts."""

    entities: list[NonEmpty] | None = Field(
        None, description="entity types to detect (default: all the engine supports)"
    )
    ner_model: NonEmpty | None = Field(
        DEFAULT_NER_MODEL,
        description="spaCy model package or folder for PERSON/LOCATION; null for patterns only",
    )
    chinese_ner: bool = Field(
        True, description="also find Chinese names, places and organisations with Baidu's LAC"
    )
    score_threshold: float = Field(
        DEFAULT_SCORE_THRESHOLD, description="minimum score of a finding"
    )
    thresholds: dict[str, float] | None = Field(
        None, description="per-entity minimum scores, e.g. {US_SSN: 0.5}"
    )
    operators: dict[str, str | dict[str, Any]] = Field(
        default_factory=dict,
        description='per-entity operator, "replace" | "mask" | "hash" or a mapping; key "default"',
    )
    salt: str | None = Field(
        None, description="secret salt of hash operators (16+ bytes); prefer salt_env"
    )
    salt_env: NonEmpty | None = Field(
        None, description="name of an environment variable holding the salt"
    )
    phone_regions: list[NonEmpty] | None = Field(
        None,
        description="region codes national phone numbers are read in (default: the regions of "
        "the dataset's declared locale; none declared: only numbers written with +country code)",
    )
    batch_size: int = Field(256, ge=1, description="texts per NER batch")
    workers: int = Field(1, ge=1, description="worker processes (1: in this process)")
    chunk_size: int = Field(1000, ge=1, description="records handed to a worker at a time")
    engine: NonEmpty | None = Field(
        None, description="data engine (ray...); default: the one configured, else local"
    )


@dataclass(frozen=True)
class StepSettings:
    """What the step runs with: the guard config plus how to parallelise."""

    guard: GuardConfig
    workers: int = 1
    chunk_size: int = 1000
    phone_regions_from: str = "params"
    """Where the phone regions came from: ``params``, ``dataset locale`` or
    ``no locale declared`` (then only international numbers are read)."""


def step_settings(
    params: PiiRedactParams, *, dataset_meta: Mapping[str, Any] | None = None
) -> StepSettings:
    """The guard configuration and parallelism of validated ``params``.

    Phone regions: ``params.phone_regions`` if given, else those of the
    locale the dataset declares (:mod:`lmops_presidio.locales`), else
    international numbers only.
    """
    kwargs: dict[str, Any] = {
        "ner_model": params.ner_model,
        "chinese_ner": params.chinese_ner,
        "score_threshold": params.score_threshold,
        "batch_size": params.batch_size,
    }
    if params.entities is not None:
        kwargs["entities"] = tuple(params.entities)
    if params.thresholds is not None:
        kwargs["thresholds"] = dict(params.thresholds)
    operators = dict(params.operators)
    default = operators.pop("default", None)
    if default is not None:
        kwargs["default_operator"] = parse_operator("operators.default", default)
    kwargs["operators"] = {
        name: parse_operator(f"operators.{name}", spec) for name, spec in operators.items()
    }
    salt = _salt(params)
    if salt is not None:
        kwargs["salt"] = salt
    source = "params"
    if params.phone_regions is not None:
        kwargs["phone_regions"] = tuple(params.phone_regions)
    else:
        declared = declared_phone_regions(dataset_meta or {})
        source = "dataset locale" if declared else "no locale declared"
        kwargs["phone_regions"] = declared or INTERNATIONAL_ONLY
    return StepSettings(
        guard=GuardConfig(**kwargs),
        workers=params.workers,
        chunk_size=params.chunk_size,
        phone_regions_from=source,
    )


def _salt(params: PiiRedactParams) -> str | None:
    if params.salt is not None and params.salt_env is not None:
        raise ValidationError("salt: give either salt or salt_env, not both", param="salt")
    if params.salt_env is not None:
        value = os.environ.get(params.salt_env)
        if not value:
            raise ValidationError(
                f'salt_env: environment variable "{params.salt_env}" is not set', param="salt_env"
            )
        return value
    return params.salt
