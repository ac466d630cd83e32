"""identity: personal signing keys, signed approval statements

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("fingerprint", _S(length=64), nullable=False),
        sa.Column("user", _S(length=128), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("created_by", _S(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registration", sa.Text(), nullable=False),
        sa.Column("registration_signature", _S(length=128), nullable=False),
        sa.Column("registration_key", _S(length=64), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint"),
    )
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.create_index("uq_signing_key_active_user", ["user"], unique=True,
                              sqlite_where=sa.text("revoked_at IS NULL"),
                              postgresql_where=sa.text("revoked_at IS NULL"))
    with op.batch_alter_table("approval_decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("statement", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("signature", _S(length=128), nullable=True))
        batch_op.add_column(sa.Column("key_fingerprint", _S(length=64), nullable=True))
        batch_op.add_column(sa.Column("auth_method", _S(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approval_decisions", schema=None) as batch_op:
        batch_op.drop_column("auth_method")
        batch_op.drop_column("key_fingerprint")
        batch_op.drop_column("signature")
        batch_op.drop_column("statement")
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.drop_index("uq_signing_key_active_user",
                            sqlite_where=sa.text("revoked_at IS NULL"),
                            postgresql_where=sa.text("revoked_at IS NULL"))
    op.drop_table("signing_keys")
