"""Revision 0013, after 0012: a lease on each running retraining attempt.

The process running an attempt holds a lease (its host, pid, a lease id and an expiry it
renews while it works), so a crashed process's attempt can be detected and taken over
instead of holding its model's place in flight until a person closes the request.
"""

import sqlalchemy as sa
from alembic import op

from lmops_core.migrations.shapes import ColumnSpec, columns, nullable, string, timestamp

revision = "0013"
down_revision = "0012"

_LEASE_COLUMNS: ColumnSpec = {
    "owner_host": nullable(string(255)),
    "owner_pid": nullable(sa.Integer),
    "lease_id": nullable(string(32)),
    "lease_expires_at": nullable(timestamp()),
}


def upgrade() -> None:
    with op.batch_alter_table("retraining_attempts", schema=None) as batch_op:
        for column in columns(_LEASE_COLUMNS):
            batch_op.add_column(column)


def downgrade() -> None:
    with op.batch_alter_table("retraining_attempts", schema=None) as batch_op:
        for name in reversed(list(_LEASE_COLUMNS)):
            batch_op.drop_column(name)
