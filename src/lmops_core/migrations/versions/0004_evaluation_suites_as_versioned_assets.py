"""Revision 0004, after 0003: evaluation suites as versioned assets."""

import sqlalchemy as sa

from lmops_core.migrations.shapes import (
    create_asset_table,
    create_version_table,
    drop_asset_table,
    drop_version_table,
    string,
)

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    create_asset_table("suites", risk_tier=False)
    create_version_table(
        "suite_versions",
        asset_table="suites",
        asset_fk="suite_id",
        unique_name="uq_suite_version",
        indexed=[],
        content={"digest": string(71), "size_bytes": sa.Integer},
    )


def downgrade() -> None:
    drop_version_table("suite_versions", asset_fk="suite_id", indexed=[])
    drop_asset_table("suites")
