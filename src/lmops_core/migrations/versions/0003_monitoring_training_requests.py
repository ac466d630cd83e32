"""Revision 0003, after 0002: monitoring: training requests."""

import sqlalchemy as sa
from alembic import op

from lmops_core.migrations.shapes import (
    create_indexes,
    create_table,
    drop_indexes,
    string,
    timestamp,
)

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    create_table(
        "training_requests",
        {
            "id": string(32),
            "ref": string(256),
            "reason": sa.Text,
            "status": string(16),
            "created_by": string(128),
            "created_at": timestamp(),
        },
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("training_requests", "ref")


def downgrade() -> None:
    drop_indexes("training_requests", "ref")
    op.drop_table("training_requests")
