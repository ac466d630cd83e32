"""Revision 0017, after 0016: ending a console session moves the access generation.

A server keeps each console session it has read (its row unsealed) while the access
generation (``audit_head.access_seq``, revision 0014) stands still, so a cached page
costs no session read. Triggers on ``console_sessions`` bump that number in the
transaction that updates or deletes a session row, whoever does it (a sign-out through
any worker process, the sign-in cap dropping the oldest, plain SQL), so every process
reads the session row again on its next request and a sign-out holds everywhere at
once. A new row needs no bump: no process can have cached it. A later revision that
rebuilds ``console_sessions`` must create these triggers again
(tests/api/test_console_pages.py fails if they are gone).
"""

from lmops_core.migrations.shapes import create_access_triggers, drop_access_triggers

revision = "0017"
down_revision = "0016"

_TABLE = "console_sessions"
_EVENTS = ("UPDATE", "DELETE")


def upgrade() -> None:
    create_access_triggers(_TABLE, _EVENTS)


def downgrade() -> None:
    drop_access_triggers(_TABLE, _EVENTS)
