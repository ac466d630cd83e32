"""The registry's entities, one SQLModel class per concept.

Following the FastAPI/SQLModel layout: ``XBase`` holds the fields a caller
supplies, the table class ``X`` adds what the registry assigns, and
``XPublic`` is what the SDK and API hand out. Evidence, lineage, tags,
aliases and metrics refer to a version of any asset type through a typed
``(subject_type, subject_id)`` pair.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Timezone-aware current time in UTC."""
    return datetime.now(UTC)


# ``sa_type`` rather than ``sa_column``: a Column object belongs to one table, while these
# fields are also declared on mixins that several tables share.
def _ts() -> Any:
    return Field(default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=False)


def _json(default: Any = dict) -> Any:
    return Field(default_factory=default, sa_type=JSON, nullable=False)


def _stage_holder(table: str, asset_fk: str) -> Index:
    """At most one version of an asset holds each stage (one ``production`` per model)."""
    return Index(
        f"uq_{table}_stage",
        asset_fk,
        "stage",
        unique=True,
        sqlite_where=text("stage IS NOT NULL"),
        postgresql_where=text("stage IS NOT NULL"),
    )


#: 64-bit on PostgreSQL; SQLite integers are 64-bit whatever the declared type, and an
#: ``INTEGER PRIMARY KEY`` there is the rowid itself.
Int64 = BigInteger().with_variant(Integer(), "sqlite")


# --- assets ----------------------------------------------------------------


class AssetBase(SQLModel):
    name: str = Field(max_length=128)
    description: str = Field(default="", max_length=4000)


class _AssetRow(AssetBase):
    """The columns of every named asset's table (models and prompts add a risk tier)."""

    id: int | None = Field(default=None, primary_key=True)
    normalized_name: str = Field(max_length=128, unique=True, index=True)
    latest_version: int = 0
    created_at: datetime = _ts()
    created_by: str = Field(max_length=128)


class Dataset(_AssetRow, table=True):
    """A named dataset; its content lives in versions."""

    __tablename__ = "datasets"


class Model(_AssetRow, table=True):
    """A named model; base weights, adapters, merged and quantized variants are its versions."""

    __tablename__ = "models"
    risk_tier: str = Field(default="standard", max_length=32)


class Prompt(_AssetRow, table=True):
    """A named prompt template; its templates live in versions."""

    __tablename__ = "prompts"
    risk_tier: str = Field(default="standard", max_length=32)


class Suite(_AssetRow, table=True):
    """A named evaluation suite (tasks, thresholds, judge prompts, safety probes)."""

    __tablename__ = "suites"


class Guard(_AssetRow, table=True):
    """A named runtime guard configuration (what a served model lets through)."""

    __tablename__ = "guards"
    risk_tier: str = Field(default="standard", max_length=32)


# --- versions --------------------------------------------------------------


def _version_args(table: str, asset_fk: str, unique_name: str) -> tuple[Any, ...]:
    """One row per (asset, version number); at most one version of an asset per stage."""
    return (UniqueConstraint(asset_fk, "version", name=unique_name), _stage_holder(table, asset_fk))


class _VersionRow(SQLModel):
    """The columns of every version table besides the asset it belongs to and its content."""

    id: int | None = Field(default=None, primary_key=True)
    version: int
    digest: str = Field(max_length=71, index=True)
    meta: dict[str, Any] = _json()
    stage: str | None = Field(default=None, max_length=64, index=True)
    status: str = Field(default="active", max_length=32)
    created_at: datetime = _ts()
    created_by: str = Field(max_length=128)


class _RunOutputRow(_VersionRow):
    """A version that a run may have produced (prompts are written by hand only)."""

    run_id: str | None = Field(default=None, max_length=32)


class DatasetVersion(_RunOutputRow, table=True):
    """One immutable content of a dataset: a canonical JSONL artifact of one shape, or a set
    of Parquet partitions (``format`` ``parquet-partitions``: ``digest`` is their Merkle root,
    ``manifest_digest`` the artifact that lists them)."""

    __tablename__ = "dataset_versions"
    __table_args__ = _version_args("dataset_versions", "dataset_id", "uq_dataset_version")
    dataset_id: int = Field(foreign_key="datasets.id", index=True)
    shape: str = Field(max_length=32, index=True)
    format: str = Field(default="jsonl", max_length=32)
    record_count: int = 0
    size_bytes: int = 0
    manifest_digest: str | None = Field(default=None, max_length=71)


class ModelVersion(_RunOutputRow, table=True):
    """One immutable content of a model: a folder artifact of a given kind."""

    __tablename__ = "model_versions"
    __table_args__ = _version_args("model_versions", "model_id", "uq_model_version")
    model_id: int = Field(foreign_key="models.id", index=True)
    kind: str = Field(max_length=32, index=True)
    format: str = Field(default="safetensors", max_length=32)
    size_bytes: int = 0


class PromptVersion(_VersionRow, table=True):
    """One immutable prompt template with the variables it declares, the system prompt it
    is sent with, and the model version it was written for (``target_model_version_id``)."""

    __tablename__ = "prompt_versions"
    __table_args__ = _version_args("prompt_versions", "prompt_id", "uq_prompt_version")
    prompt_id: int = Field(foreign_key="prompts.id", index=True)
    template: str = Field(sa_column=Column(Text, nullable=False))
    variables: list[str] = _json(list)
    system_prompt: str = Field(
        default="", sa_column=Column(Text, nullable=False, server_default="")
    )
    target_model_version_id: int | None = Field(default=None, foreign_key="model_versions.id")


class SuiteVersion(_RunOutputRow, table=True):
    """One immutable suite: a folder artifact (suite.yaml and its task folders)."""

    __tablename__ = "suite_versions"
    __table_args__ = _version_args("suite_versions", "suite_id", "uq_suite_version")
    suite_id: int = Field(foreign_key="suites.id", index=True)
    size_bytes: int = 0


class GuardVersion(_VersionRow, table=True):
    """One immutable guard configuration. ``digest`` is the configuration's own digest (its
    meaning: comments and layout do not change it); ``file_digest`` is the YAML file as
    stored, ``config_name`` the ``name`` the document gives itself."""

    __tablename__ = "guard_versions"
    __table_args__ = _version_args("guard_versions", "guard_id", "uq_guard_version")
    guard_id: int = Field(foreign_key="guards.id", index=True)
    config_kind: str = Field(max_length=64)
    config_name: str = Field(max_length=128)
    file_digest: str = Field(max_length=71)
    size_bytes: int = 0


# --- runs, evidence, lineage -------------------------------------------------


class Run(SQLModel, table=True):
    """One execution of a lifecycle-stage operation."""

    __tablename__ = "runs"
    id: str = Field(primary_key=True, max_length=32)
    stage: str = Field(max_length=32, index=True)
    operation: str = Field(max_length=128)
    plugin: str = Field(max_length=128)
    status: str = Field(max_length=16, index=True)
    params: dict[str, Any] = _json()
    metrics: dict[str, Any] = _json()
    info: dict[str, Any] = _json()
    series_digest: str | None = Field(default=None, max_length=71)
    inputs: dict[str, Any] = _json()
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    code_version: str | None = Field(default=None, max_length=128)
    actor: str = Field(max_length=128)
    started_at: datetime = _ts()
    ended_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class _AboutVersionRow(SQLModel):
    """A row about one version of any asset type: ``(subject_type, subject_id)``."""

    id: int | None = Field(default=None, primary_key=True)
    subject_type: str = Field(max_length=16)
    subject_id: int


class Evidence(_AboutVersionRow, table=True):
    """An immutable, typed result attached to one version, bound to its digest.

    ``paired_model_version_id`` names the model version a result was measured with when
    the subject is not a model itself (a prompt version's answers come from a model): the
    evidence is then about the pair, and only counts for that model version.
    """

    __tablename__ = "evidence"
    __table_args__ = (Index("ix_evidence_subject", "subject_type", "subject_id", "kind"),)
    subject_digest: str = Field(max_length=71)
    kind: str = Field(max_length=64, index=True)
    stage: str = Field(max_length=32)
    plugin: str = Field(max_length=128)
    run_id: str | None = Field(default=None, max_length=32, index=True)
    metrics: dict[str, Any] = _json()
    details: dict[str, Any] = _json()
    artifacts: dict[str, str] = _json()
    paired_model_version_id: int | None = Field(
        default=None, foreign_key="model_versions.id", index=True
    )
    digest: str = Field(max_length=71)
    created_at: datetime = _ts()
    created_by: str = Field(max_length=128)


class LineageEdge(SQLModel, table=True):
    """``child`` was derived from ``parent`` (by ``run_id`` when a run made it)."""

    __tablename__ = "lineage_edges"
    __table_args__ = (
        Index("ix_lineage_child", "child_type", "child_id"),
        Index("ix_lineage_parent", "parent_type", "parent_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    child_type: str = Field(max_length=16)
    child_id: int
    parent_type: str = Field(max_length=16)
    parent_id: int
    relation: str = Field(default="derived_from", max_length=32)
    run_id: str | None = Field(default=None, max_length=32)


class VersionTag(_AboutVersionRow, table=True):
    """A key/value label on a version."""

    __tablename__ = "version_tags"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id", "key", name="uq_version_tag"),
        Index("ix_version_tag_kv", "subject_type", "key", "value"),
    )
    key: str = Field(max_length=128)
    value: str = Field(default="", max_length=512)


class VersionMetric(_AboutVersionRow, table=True):
    """A numeric metric of a version, searchable by threshold (``eval.acc >= 0.6``)."""

    __tablename__ = "version_metrics"
    __table_args__ = (
        Index("ix_version_metric_kv", "subject_type", "key", "value"),
        # The per-version probe of threshold search: all equality columns first.
        Index("ix_version_metric_probe", "subject_type", "subject_id", "key", "value"),
    )
    key: str = Field(max_length=191)
    value: float


class Alias(SQLModel, table=True):
    """A movable name (``champion``) pointing at one version of an asset."""

    __tablename__ = "aliases"
    __table_args__ = (UniqueConstraint("asset_type", "asset_id", "alias", name="uq_alias"),)
    id: int | None = Field(default=None, primary_key=True)
    asset_type: str = Field(max_length=16)
    asset_id: int
    alias: str = Field(max_length=64)
    version_id: int


# --- audit -------------------------------------------------------------------


class AuditEvent(SQLModel, table=True):
    """One append-only, hash-chained record of a state change."""

    __tablename__ = "audit_events"
    seq: int = Field(sa_column=Column(Int64, primary_key=True, autoincrement=False))
    ts: str = Field(max_length=40)
    actor: str = Field(max_length=128, index=True)
    action: str = Field(max_length=64, index=True)
    subject: str = Field(max_length=256, index=True)
    before: str = Field(default="null", sa_column=Column(Text, nullable=False))
    after: str = Field(default="null", sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """The chain head, signed with the audit key so a truncated tail is detectable."""

    __tablename__ = "audit_head"
    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0, sa_column=Column(Int64, nullable=False))
    hash: str = Field(max_length=64)
    signature: str = Field(max_length=128)
    #: Moved by database triggers with every change to ``api_tokens`` or ``user_roles``
    #: (revision 0014): while it stands still, every token authenticates as it did.
    access_seq: int = Field(default=0, sa_column=Column(Int64, nullable=False, server_default="0"))


class AuditGenesis(SQLModel, table=True):
    """The store's birth certificate: identity, creation time and audit key fingerprint.

    Signed with the audit key and also written outside the database (the
    artifact store's checkpoint area), so an emptied log cannot pass for a new store.
    """

    __tablename__ = "audit_genesis"
    id: int = Field(default=1, primary_key=True)
    store_id: str = Field(max_length=36)
    created_at: str = Field(max_length=40)
    key_fingerprint: str = Field(max_length=80)
    #: 0 for a store born with its genesis; the head seq when an older store adopted one.
    adopted_seq: int = 0
    signature: str = Field(max_length=128)
