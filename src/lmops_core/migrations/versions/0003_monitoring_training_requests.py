"""monitoring: training requests

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 02:12:04.842290
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_requests",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("ref", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("training_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_training_requests_ref"), ["ref"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("training_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_training_requests_ref"))

    op.drop_table("training_requests")
