"""Revision 0003, after 0002: monitoring: training requests."""

import sqlalchemy as sa
from alembic import op

from lmops_core.migrations.shapes import create_indexes, drop_indexes, string

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "training_requests",
        sa.Column("id", string(32), nullable=False),
        sa.Column("ref", string(256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", string(16), nullable=False),
        sa.Column("created_by", string(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes("training_requests", "ref")


def downgrade() -> None:
    drop_indexes("training_requests", "ref")
    op.drop_table("training_requests")
