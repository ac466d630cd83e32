"""Revision 0001: initial registry and audit schema."""

from typing import Any

import sqlalchemy as sa
from alembic import op

from lmops_core.migrations.shapes import (
    IndexSpec,
    about_version_columns,
    create_asset_table,
    create_indexes,
    create_version_table,
    created_columns,
    drop_asset_table,
    drop_indexes,
    drop_version_table,
    string,
)

revision = "0001"
down_revision = None


_AUDIT_EVENT_INDEXES: tuple[IndexSpec, ...] = ("action", "actor", "subject")
_EVIDENCE_INDEXES: tuple[IndexSpec, ...] = (
    "kind",
    "run_id",
    ("ix_evidence_subject", ["subject_type", "subject_id", "kind"]),
)
_LINEAGE_INDEXES: tuple[IndexSpec, ...] = (
    ("ix_lineage_child", ["child_type", "child_id"]),
    ("ix_lineage_parent", ["parent_type", "parent_id"]),
)
_RUN_INDEXES: tuple[IndexSpec, ...] = ("stage", "status")
_METRIC_INDEXES: tuple[IndexSpec, ...] = (
    ("ix_version_metric_kv", ["subject_type", "key", "value"]),
    ("ix_version_metric_subject", ["subject_type", "subject_id"]),
)
_TAG_INDEXES: tuple[IndexSpec, ...] = (("ix_version_tag_kv", ["subject_type", "key", "value"]),)
#: Per asset: its versions table, the column naming the asset, indexed content columns.
_VERSIONS: tuple[tuple[str, str, str, list[str]], ...] = (
    ("datasets", "dataset_versions", "dataset_id", ["shape"]),
    ("models", "model_versions", "model_id", ["kind"]),
    ("prompts", "prompt_versions", "prompt_id", []),
)


def upgrade() -> None:
    op.create_table(
        "aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asset_type", string(16), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("alias", string(64), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("asset_type", "asset_id", "alias", name="uq_alias"),
    )
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("ts", string(40), nullable=False),
        sa.Column("actor", string(128), nullable=False),
        sa.Column("action", string(64), nullable=False),
        sa.Column("subject", string(256), nullable=False),
        sa.Column("before", sa.Text(), nullable=False),
        sa.Column("after", sa.Text(), nullable=False),
        sa.Column("prev_hash", string(64), nullable=False),
        sa.Column("hash", string(64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    create_indexes("audit_events", *_AUDIT_EVENT_INDEXES)
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", string(64), nullable=False),
        sa.Column("signature", string(128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # The genesis head: seq 0, all-zero hash, unsigned (only seq 0 may be unsigned).
    op.execute(
        "INSERT INTO audit_head (id, seq, hash, signature) VALUES (1, 0, '" + "0" * 64 + "', '')"
    )
    create_asset_table("datasets", risk_tier=False)
    op.create_table(
        "evidence",
        *about_version_columns(),
        sa.Column("subject_digest", string(71), nullable=False),
        sa.Column("kind", string(64), nullable=False),
        sa.Column("stage", string(32), nullable=False),
        sa.Column("plugin", string(128), nullable=False),
        sa.Column("run_id", string(32), nullable=True),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("artifacts", sa.JSON(), nullable=False),
        sa.Column("digest", string(71), nullable=False),
        *created_columns(),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("evidence", *_EVIDENCE_INDEXES)
    op.create_table(
        "lineage_edges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("child_type", string(16), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("parent_type", string(16), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("relation", string(32), nullable=False),
        sa.Column("run_id", string(32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("lineage_edges", *_LINEAGE_INDEXES)
    create_asset_table("models", risk_tier=True)
    create_asset_table("prompts", risk_tier=True)
    op.create_table(
        "runs",
        sa.Column("id", string(32), nullable=False),
        sa.Column("stage", string(32), nullable=False),
        sa.Column("operation", string(128), nullable=False),
        sa.Column("plugin", string(128), nullable=False),
        sa.Column("status", string(16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("info", sa.JSON(), nullable=False),
        sa.Column("series_digest", string(71), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("code_version", string(128), nullable=True),
        sa.Column("actor", string(128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("runs", *_RUN_INDEXES)
    op.create_table(
        "version_metrics",
        *about_version_columns(),
        sa.Column("key", string(191), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("version_metrics", *_METRIC_INDEXES)
    op.create_table(
        "version_tags",
        *about_version_columns(),
        sa.Column("key", string(128), nullable=False),
        sa.Column("value", string(512), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject_type", "subject_id", "key", name="uq_version_tag"),
    )
    create_indexes("version_tags", *_TAG_INDEXES)
    contents: dict[str, list[sa.Column[Any]]] = {
        "datasets": [
            sa.Column("digest", string(71), nullable=False),
            sa.Column("shape", string(32), nullable=False),
            sa.Column("format", string(32), nullable=False),
            sa.Column("record_count", sa.Integer(), nullable=False),
            sa.Column("size_bytes", sa.Integer(), nullable=False),
        ],
        "models": [
            sa.Column("kind", string(32), nullable=False),
            sa.Column("format", string(32), nullable=False),
            sa.Column("digest", string(71), nullable=False),
            sa.Column("size_bytes", sa.Integer(), nullable=False),
        ],
        "prompts": [
            sa.Column("template", sa.Text(), nullable=False),
            sa.Column("variables", sa.JSON(), nullable=False),
            sa.Column("digest", string(71), nullable=False),
        ],
    }
    for asset, table, asset_fk, indexed in _VERSIONS:
        create_version_table(
            table,
            asset_table=asset,
            asset_fk=asset_fk,
            unique_name=f"uq_{asset[:-1]}_version",
            content=contents[asset],
            indexed=indexed,
            run_id=asset != "prompts",
        )


def downgrade() -> None:
    for _, table, asset_fk, indexed in reversed(_VERSIONS):
        drop_version_table(table, asset_fk=asset_fk, indexed=indexed)
    for table, indexes in (
        ("version_tags", _TAG_INDEXES),
        ("version_metrics", _METRIC_INDEXES),
        ("runs", _RUN_INDEXES),
    ):
        drop_indexes(table, *reversed(indexes))
        op.drop_table(table)
    drop_asset_table("prompts")
    drop_asset_table("models")
    for table, indexes in (("lineage_edges", _LINEAGE_INDEXES), ("evidence", _EVIDENCE_INDEXES)):
        drop_indexes(table, *reversed(indexes))
        op.drop_table(table)
    drop_asset_table("datasets")
    op.drop_table("audit_head")
    drop_indexes("audit_events", *reversed(_AUDIT_EVENT_INDEXES))
    op.drop_table("audit_events")
    op.drop_table("aliases")
