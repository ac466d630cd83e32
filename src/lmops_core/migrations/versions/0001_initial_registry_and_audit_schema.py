"""Revision 0001: initial registry and audit schema."""

import sqlalchemy as sa
from alembic import op

from lmops_core.migrations.shapes import (
    ColumnSpec,
    IndexSpec,
    about_version_columns,
    create_asset_table,
    create_indexes,
    create_table,
    create_version_table,
    created_columns,
    drop_asset_table,
    drop_indexes,
    drop_version_table,
    nullable,
    string,
    timestamp,
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
    create_table(
        "aliases",
        {
            "id": sa.Integer,
            "asset_type": string(16),
            "asset_id": sa.Integer,
            "alias": string(64),
            "version_id": sa.Integer,
        },
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("asset_type", "asset_id", "alias", name="uq_alias"),
    )
    create_table(
        "audit_events",
        {
            "seq": sa.Integer,
            "ts": string(40),
            "actor": string(128),
            "action": string(64),
            "subject": string(256),
            "before": sa.Text,
            "after": sa.Text,
            "prev_hash": string(64),
            "hash": string(64),
        },
        sa.PrimaryKeyConstraint("seq"),
    )
    create_indexes("audit_events", *_AUDIT_EVENT_INDEXES)
    create_table(
        "audit_head",
        {"id": sa.Integer, "seq": sa.Integer, "hash": string(64), "signature": string(128)},
        sa.PrimaryKeyConstraint("id"),
    )
    # The genesis head: seq 0, all-zero hash, unsigned (only seq 0 may be unsigned).
    op.execute(
        "INSERT INTO audit_head (id, seq, hash, signature) VALUES (1, 0, '" + "0" * 64 + "', '')"
    )
    create_asset_table("datasets", risk_tier=False)
    create_table(
        "evidence",
        {
            **about_version_columns(),
            "subject_digest": string(71),
            "kind": string(64),
            "stage": string(32),
            "plugin": string(128),
            "run_id": nullable(string(32)),
            "metrics": sa.JSON,
            "details": sa.JSON,
            "artifacts": sa.JSON,
            "digest": string(71),
            **created_columns(),
        },
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("evidence", *_EVIDENCE_INDEXES)
    create_table(
        "lineage_edges",
        {
            "id": sa.Integer,
            "child_type": string(16),
            "child_id": sa.Integer,
            "parent_type": string(16),
            "parent_id": sa.Integer,
            "relation": string(32),
            "run_id": nullable(string(32)),
        },
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("lineage_edges", *_LINEAGE_INDEXES)
    create_asset_table("models", risk_tier=True)
    create_asset_table("prompts", risk_tier=True)
    create_table(
        "runs",
        {
            "id": string(32),
            "stage": string(32),
            "operation": string(128),
            "plugin": string(128),
            "status": string(16),
            "params": sa.JSON,
            "metrics": sa.JSON,
            "info": sa.JSON,
            "series_digest": nullable(string(71)),
            "inputs": sa.JSON,
            "error": nullable(sa.Text),
            "code_version": nullable(string(128)),
            "actor": string(128),
            "started_at": timestamp(),
            "ended_at": nullable(timestamp()),
        },
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("runs", *_RUN_INDEXES)
    create_table(
        "version_metrics",
        {**about_version_columns(), "key": string(191), "value": sa.Float},
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("version_metrics", *_METRIC_INDEXES)
    create_table(
        "version_tags",
        {**about_version_columns(), "key": string(128), "value": string(512)},
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject_type", "subject_id", "key", name="uq_version_tag"),
    )
    create_indexes("version_tags", *_TAG_INDEXES)
    contents: dict[str, ColumnSpec] = {
        "datasets": {
            "digest": string(71),
            "shape": string(32),
            "format": string(32),
            "record_count": sa.Integer,
            "size_bytes": sa.Integer,
        },
        "models": {
            "kind": string(32),
            "format": string(32),
            "digest": string(71),
            "size_bytes": sa.Integer,
        },
        "prompts": {"template": sa.Text, "variables": sa.JSON, "digest": string(71)},
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
