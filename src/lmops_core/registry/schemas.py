"""What the registry hands out: typed, read-only views of its rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from lmops_core.contracts import AssetType


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class AssetPublic(_Public):
    """An asset (dataset, model, prompt or suite) without its versions."""

    asset_type: AssetType
    name: str
    description: str
    risk_tier: str | None = None
    latest_version: int
    created_at: datetime
    created_by: str


class VersionPublic(_Public):
    """Fields every version shares."""

    ref: str
    asset_type: AssetType
    name: str
    version: int
    digest: str
    stage: str | None
    status: str
    meta: dict[str, Any]
    tags: dict[str, str] = {}
    aliases: list[str] = []
    created_at: datetime
    created_by: str


class DatasetVersionPublic(VersionPublic):
    """A dataset version: a canonical JSONL artifact of one shape, or Parquet partitions."""

    shape: str
    format: str
    record_count: int
    size_bytes: int
    #: The partition manifest's artifact (``format`` ``parquet-partitions``), else ``None``.
    manifest_digest: str | None = None


class ModelVersionPublic(VersionPublic):
    """A model version: a folder artifact of one kind."""

    kind: str
    format: str
    size_bytes: int
    risk_tier: str


class PromptVersionPublic(VersionPublic):
    """A prompt version: a template, the variables it declares, the system prompt it is
    sent with (``""`` for none) and the model version it targets (``None`` for none)."""

    template: str
    variables: list[str]
    system_prompt: str = ""
    target_model: str | None = None


class RunPublic(_Public):
    """A recorded execution of a stage operation."""

    id: str
    stage: str
    operation: str
    plugin: str
    status: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    info: dict[str, Any]
    inputs: dict[str, Any]
    series_digest: str | None
    error: str | None
    code_version: str | None
    actor: str
    started_at: datetime
    ended_at: datetime | None


class EvidencePublic(_Public):
    """An immutable evidence record attached to one version."""

    id: int
    subject: str
    subject_digest: str
    kind: str
    stage: str
    plugin: str
    run_id: str | None
    metrics: dict[str, Any]
    details: dict[str, Any]
    artifacts: dict[str, str]
    digest: str
    created_at: datetime
    created_by: str
    #: The model version the result was measured with, when the subject is a prompt.
    paired: str | None = None


class LineageEdgePublic(_Public):
    """``child`` was derived from ``parent``."""

    child: str
    parent: str
    relation: str
    run_id: str | None


class AuditEventPublic(_Public):
    """One audit event."""

    seq: int
    ts: str
    actor: str
    action: str
    subject: str
    before: Any
    after: Any
    hash: str


class SuiteVersionPublic(VersionPublic):
    """An evaluation-suite version: a folder (suite.yaml and its task folders)."""

    size_bytes: int


class GuardVersionPublic(VersionPublic):
    """A guard version: a runtime guard configuration file. ``digest`` is the configuration's
    own digest (what a service reports and a bundle pins); ``file_digest`` the stored file."""

    config_kind: str
    config_name: str
    file_digest: str
    size_bytes: int
    risk_tier: str
