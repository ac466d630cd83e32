"""Revision 0007, after 0006: identity: personal signing keys, signed approval statements."""

import sqlalchemy as sa
from alembic import op

from lmops_core.migrations.shapes import (
    ColumnSpec,
    columns,
    create_table,
    nullable,
    string,
    timestamp,
)

revision = "0007"
down_revision = "0006"

#: What a signed decision adds to ``approval_decisions`` (NULL for decisions made before).
_DECISION_SIGNATURE: ColumnSpec = {
    "statement": nullable(sa.Text),
    "signature": nullable(string(128)),
    "key_fingerprint": nullable(string(64)),
    "auth_method": nullable(string(16)),
}


def upgrade() -> None:
    create_table(
        "signing_keys",
        {
            "fingerprint": string(64),
            "user": string(128),
            "public_key": sa.Text,
            "created_by": string(128),
            "created_at": timestamp(),
            "revoked_at": nullable(timestamp()),
            "registration": sa.Text,
            "registration_signature": string(128),
            "registration_key": string(64),
        },
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
        for column in columns(_DECISION_SIGNATURE):
            batch_op.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("approval_decisions", schema=None) as batch_op:
        for name in reversed(list(_DECISION_SIGNATURE)):
            batch_op.drop_column(name)
    with op.batch_alter_table("signing_keys", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_signing_key_active_user",
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        )
    op.drop_table("signing_keys")
