"""The drift monitor's parameters: a model the core validates before a run starts.

Kept light (Evidently is imported only when a statistical test's name is
checked), because the plugin module and its parameter model load with every
``lmops`` command.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, StringConstraints, field_validator

from lmops_core.contracts import OperationParams
from lmops_core.operations import OperationSpec, validate_params

DESCRIPTORS: tuple[str, ...] = ("length", "words", "oov_rate", "lang", "refusal", "pii")
"""Text descriptors the monitor can compute for each text field."""

Name = Annotated[str, StringConstraints(min_length=1)]


def _check_stattest(value: str | None, *column_types: str) -> str | None:
    if value is None:
        return None
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    for column_type in column_types:
        # Evidently's own message lists the known tests.
        get_registered_stattest(value, ColumnType(column_type))
    return value


class DriftParams(OperationParams):
    """Parameters of the ``drift`` monitor (see the plugin README)."""

    drift_share: float = Field(
        0.5, gt=0.0, le=1.0, description="share of drifted columns that means dataset drift"
    )
    method: str | None = Field(None, description="one stattest for every column")
    num_method: str | None = Field(None, description="stattest for numeric columns")
    cat_method: str | None = Field(None, description="stattest for categorical columns")
    threshold: float | None = Field(None, gt=0.0, description="stattest threshold")
    text_fields: list[Name] | None = Field(None, description="text fields (default: detected)")
    exclude_fields: list[Name] = Field(default_factory=list, description="fields ignored")
    descriptors: list[Name] | None = Field(
        None, description=f"text descriptors computed ({', '.join(DESCRIPTORS)})"
    )
    max_categories: int = Field(50, ge=2, description="most distinct values of a category")
    chunk_size: int = Field(10_000, ge=1, description="rows read at a time")
    sample_rows: int | None = Field(None, ge=1, description="rows sampled per window")
    seed: int | None = Field(None, ge=0, description="sampling seed")
    pii_rows: int = Field(1_000, ge=1, description="rows scanned for personal data")
    embedding_fields: list[Name] | None = Field(None, description="text fields embedded")
    embedding_rows: int = Field(500, ge=1, description="rows embedded per window")

    @field_validator("method")
    @classmethod
    def _any_column(cls, value: str | None) -> str | None:
        # One method for every column: it must apply to numbers and categories alike.
        return _check_stattest(value, "num", "cat")

    @field_validator("num_method")
    @classmethod
    def _numeric(cls, value: str | None) -> str | None:
        return _check_stattest(value, "num")

    @field_validator("cat_method")
    @classmethod
    def _categorical(cls, value: str | None) -> str | None:
        return _check_stattest(value, "cat")

    @field_validator("descriptors")
    @classmethod
    def _known_descriptors(cls, value: list[str] | None) -> list[str] | None:
        for item in value or ():
            if item not in DESCRIPTORS:
                raise ValueError(f'unknown descriptor "{item}" (known: {", ".join(DESCRIPTORS)})')
        return value


def parse_params(raw: Mapping[str, Any]) -> DriftParams:
    """``raw`` validated as the core validates a drift run's parameters."""
    spec = OperationSpec(
        name="drift", description="", params_model=DriftParams, input_roles=None, evidence_kinds=()
    )
    _, parsed = validate_params(spec, raw)
    assert isinstance(parsed, DriftParams)
    return parsed
