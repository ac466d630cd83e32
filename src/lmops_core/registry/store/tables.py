"""Which tables hold each asset type, and how a version is named."""

from __future__ import annotations

from typing import Any

from lmops_core.errors import ValidationError
from lmops_core.registry.models import (
    Dataset,
    DatasetVersion,
    Guard,
    GuardVersion,
    Model,
    ModelVersion,
    Prompt,
    PromptVersion,
    Suite,
    SuiteVersion,
)

_ASSETS: dict[str, tuple[type[Any], type[Any], str]] = {
    "dataset": (Dataset, DatasetVersion, "dataset_id"),
    "model": (Model, ModelVersion, "model_id"),
    "prompt": (Prompt, PromptVersion, "prompt_id"),
    "suite": (Suite, SuiteVersion, "suite_id"),
    "guard": (Guard, GuardVersion, "guard_id"),
}


def asset_classes(asset_type: str) -> tuple[type[Any], type[Any], str]:
    """Table classes and foreign-key column for an asset type."""
    try:
        return _ASSETS[asset_type]
    except KeyError:
        raise ValidationError(
            f"unknown asset type {asset_type!r} (expected dataset, model, prompt, suite or guard)",
            field="asset_type",
        ) from None


def version_ref(asset_type: str, name: str, version: int) -> str:
    """The canonical reference string of a version."""
    return f"{asset_type}:{name}@{version}"
