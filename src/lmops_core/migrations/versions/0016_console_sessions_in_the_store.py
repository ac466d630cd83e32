"""Revision 0016, after 0015: console sign-ins kept in the store.

A console session used to live in one server process's memory, so ``lmops serve`` ran
one process. Kept in ``console_sessions``, a sign-in made through one worker process is
honoured by every other, and a sign-out (deleting the row) takes effect in all of them
at once. The row holds a digest of the session id, the token's id and the token sealed
under a key derived from the session id: never a bearer token in clear.
"""

import sqlalchemy as sa
from alembic import op

from lmops_core.migrations.shapes import (
    create_indexes,
    create_table,
    drop_indexes,
    string,
    timestamp,
)

revision = "0016"
down_revision = "0015"

_TABLE = "console_sessions"
_INDEXED = ("expires_at", "token_id", "user")


def upgrade() -> None:
    create_table(
        _TABLE,
        {
            "id": string(64),
            "user": string(128),
            "token_id": string(32),
            "sealed_token": string(512),
            "created_at": timestamp(),
            "expires_at": timestamp(),
        },
        sa.PrimaryKeyConstraint("id"),
    )
    create_indexes(_TABLE, *_INDEXED)


def downgrade() -> None:
    drop_indexes(_TABLE, *reversed(_INDEXED))
    op.drop_table(_TABLE)
