"""Revision 0014, after 0013: an access generation that moves with every token or role change.

``audit_head.access_seq`` is bumped by triggers on ``api_tokens`` and ``user_roles``
(insert, update, delete), in the transaction that makes the change, whoever makes it
(the service, a CLI, plain SQL). A server keeps each bearer token's principal while the
number stands still, so decisions and other writes, which move the audit head's
``seq`` but touch no credential, no longer make every caller authenticate again.
The counter lives on the head row because every audited write locks that row anyway:
no new lock, so no new order in which two transactions could wait on each other.
A later revision that rebuilds either table (Alembic's batch mode on SQLite copies it
into a new one) must create its triggers again: without them a revoked token would
keep its cached principal (tests/api/test_cache.py fails if they are gone).
"""

import sqlalchemy as sa
from alembic import op

from lmops_core.migrations.shapes import ACCESS_BUMP, create_access_triggers, drop_access_triggers

revision = "0014"
down_revision = "0013"

_TABLES = ("api_tokens", "user_roles")
_EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "access_seq",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=False,
                server_default="0",
            )
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION lmops_bump_access_seq() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {ACCESS_BUMP}; RETURN NULL; END $$"
        )
    for table in _TABLES:
        create_access_triggers(table, _EVENTS)


def downgrade() -> None:
    for table in _TABLES:
        drop_access_triggers(table, _EVENTS)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION lmops_bump_access_seq()")
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("access_seq")
