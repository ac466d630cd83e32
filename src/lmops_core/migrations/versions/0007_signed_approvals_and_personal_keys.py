"""Revision 0007, after 0006: identity: personal signing keys, signed approval statements."""

import sqlalchemy as sa
from alembic import op

from lmops_core.migrations.shapes import string

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "signing_keys",
        sa.Column("fingerprint", string(64), nullable=False),
        sa.Column("user", string(128), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("created_by", string(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registration", sa.Text(), nullable=False),
        sa.Column("registration_signature", string(128), nullable=False),
        sa.Column("registration_key", string(64), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint"),
    )
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.create_index(
            "uq_signing_key_active_user",
            ["user"],
            unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )
    with op.batch_alter_table("approval_decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("statement", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("signature", string(128), nullable=True))
        batch_op.add_column(sa.Column("key_fingerprint", string(64), nullable=True))
        batch_op.add_column(sa.Column("auth_method", string(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("approval_decisions", schema=None) as batch_op:
        batch_op.drop_column("auth_method")
        batch_op.drop_column("key_fingerprint")
        batch_op.drop_column("signature")
        batch_op.drop_column("statement")
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_signing_key_active_user",
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )
    op.drop_table("signing_keys")
