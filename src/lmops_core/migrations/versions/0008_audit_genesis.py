"""Revision 0008, after 0007: audit genesis: the store's identity and birth, signed with the audit key."""

import sqlalchemy as sa
from alembic import op

from lmops_core.migrations.shapes import create_table, string

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    # One row (id 1), written by the first Workspace that opens the store.
    create_table(
        "audit_genesis",
        {
            "id": sa.Integer,
            "store_id": string(36),
            "created_at": string(40),
            "key_fingerprint": string(80),
            "adopted_seq": sa.Integer,
            "signature": string(128),
        },
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("audit_genesis")
