"""Revision 0015, after 0014: runtime guard configurations as versioned assets.

A guard version records the configuration's own digest (``digest``), the YAML file as
stored (``file_digest``), the document's kind and the name it gives itself; like every
version table, at most one version of a guard holds each stage.
"""

import sqlalchemy as sa
from alembic import op

from lmops_core.migrations.shapes import (
    create_asset_table,
    create_version_table,
    drop_asset_table,
    drop_version_table,
    string,
)

revision = "0015"
down_revision = "0014"

_STAGE_INDEX = "uq_guard_versions_stage"


def upgrade() -> None:
    create_asset_table("guards", risk_tier=True)
    create_version_table(
        "guard_versions",
        asset_table="guards",
        asset_fk="guard_id",
        unique_name="uq_guard_version",
        indexed=[],
        run_id=False,
        content={
            "digest": string(71),
            "config_kind": string(64),
            "config_name": string(128),
            "file_digest": string(71),
            "size_bytes": sa.Integer,
        },
    )
    op.create_index(
        _STAGE_INDEX,
        "guard_versions",
        ["guard_id", "stage"],
        unique=True,
        sqlite_where=sa.text("stage IS NOT NULL"),
        postgresql_where=sa.text("stage IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(_STAGE_INDEX, table_name="guard_versions")
    drop_version_table("guard_versions", asset_fk="guard_id", indexed=[])
    drop_asset_table("guards")
