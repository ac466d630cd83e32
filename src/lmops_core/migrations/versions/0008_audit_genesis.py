"""Revision 0008, after 0007: audit genesis: the store's identity and birth, signed with the audit key."""

import sqlalchemy as sa
from alembic import op

from lmops_core.migrations.shapes import string

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    # One row (id 1), written by the first Workspace that opens the store.
    op.create_table(
        "audit_genesis",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", string(36), nullable=False),
        sa.Column("created_at", string(40), nullable=False),
        sa.Column("key_fingerprint", string(80), nullable=False),
        sa.Column("adopted_seq", sa.Integer(), nullable=False),
        sa.Column("signature", string(128), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("audit_genesis")
