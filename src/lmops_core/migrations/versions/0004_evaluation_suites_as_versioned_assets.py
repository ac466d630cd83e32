"""evaluation suites as versioned assets

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 02:47:38.986068
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suites",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=4000), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("normalized_name", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("suites", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_suites_normalized_name"), ["normalized_name"], unique=True
        )

    op.create_table(
        "suite_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("suite_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=71), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["suite_id"],
            ["suites.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("suite_id", "version", name="uq_suite_version"),
    )
    with op.batch_alter_table("suite_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_suite_versions_digest"), ["digest"], unique=False)
        batch_op.create_index(batch_op.f("ix_suite_versions_stage"), ["stage"], unique=False)
        batch_op.create_index(batch_op.f("ix_suite_versions_suite_id"), ["suite_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("suite_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suite_versions_suite_id"))
        batch_op.drop_index(batch_op.f("ix_suite_versions_stage"))
        batch_op.drop_index(batch_op.f("ix_suite_versions_digest"))

    op.drop_table("suite_versions")
    with op.batch_alter_table("suites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_suites_normalized_name"))

    op.drop_table("suites")
