"""Appending to the audit chain on PostgreSQL with the head lock held as briefly as possible.

Every writer of a shared store queues on the chain head's row, so the time one
writer holds that lock bounds the write rate of the whole deployment. Under
load, what the lock holder waits for is mostly not work but round trips: each
statement wakes the server and then the client, and on a busy machine each
wake-up waits its turn for a CPU. The holder therefore makes as few of them as
the chain allows:

1. The head row is locked and read together with the statement before it
   where the caller can arrange it (:func:`adopt_locked_head`, used by version
   creation), else in a statement of its own; its signature is checked here.
2. The event's hash needs the head's hash, so it is computed here, and the
   event is *held back*, behind any event of the transaction still held: they
   are sent, in order and in one pipelined round trip, before the next
   statement of the transaction (:func:`flush_pending`, from a
   ``before_cursor_execute`` listener) or, when they are the transaction's last
   writes, together with ``COMMIT`` (:func:`commit_with_pending`).
3. The first event of a transaction carries the tail checks of
   :func:`~lmops_core.audit.heads.head_problem`, evaluated by the database after
   the lock was granted. A failed check cannot be answered by skipping the
   ``COMMIT`` already queued behind it, so the statement then *fails*: it
   inserts a NULL sequence number, which the primary key refuses, the
   transaction aborts, and the full check runs to name what is wrong.

Nothing here changes what is written: the same rows, hashes and signatures as
the generic path, and a refusal still writes nothing.
"""

from __future__ import annotations

import hmac
from typing import Any, NoReturn

from sqlalchemy import Engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from lmops_core.audit import chain, heads

#: Connection.info key of the event held back until the next statement or the commit.
_PENDING = "lmops_audit_pending"

_COLUMNS = "(seq, ts, actor, action, subject, before, after, prev_hash, hash)"
# "No event after the head" is asked as the newest seq, which PostgreSQL always reads from
# the primary key's end. Asked as ``NOT EXISTS (... WHERE seq > head)``, the generic plan
# psycopg's prepared statement switches to after five runs expected a third of the rows to
# match and scanned the whole table: 2.7 ms a statement at 100,000 events, head locked.
_TAIL_OK = (
    "COALESCE((SELECT max(seq) FROM audit_events), 0) <= %(head_seq)s "
    "AND (%(head_seq)s = 0 OR EXISTS (SELECT 1 FROM audit_events "
    "     WHERE seq = %(head_seq)s AND hash = %(head_hash)s)) "
    "AND (%(cp)s = 0 OR EXISTS (SELECT 1 FROM audit_events "
    "     WHERE seq = %(cp)s AND hash = %(cp_hash)s))"
)
# The event and the signed head in one statement. The checked form writes a NULL seq
# (refused by the primary key: the transaction aborts) when the tail is not the one
# the head names, so a COMMIT pipelined behind it never commits an unchecked append.
_APPEND_CHECKED = (
    "WITH e AS (INSERT INTO audit_events " + _COLUMNS + " "
    "SELECT CASE WHEN " + _TAIL_OK + " THEN %(seq)s::bigint END, %(ts)s, %(actor)s, "
    "%(action)s, %(subject)s, %(before)s, %(after)s, %(prev)s, %(hash)s RETURNING seq) "
    "UPDATE audit_head SET seq = %(seq)s, hash = %(hash)s, signature = %(sig)s "
    "WHERE id = 1 AND EXISTS (SELECT 1 FROM e)"
)
_APPEND = (
    "WITH e AS (INSERT INTO audit_events " + _COLUMNS + " "
    "VALUES (%(seq)s, %(ts)s, %(actor)s, %(action)s, %(subject)s, %(before)s, %(after)s, "
    "%(prev)s, %(hash)s) RETURNING seq) "
    "UPDATE audit_head SET seq = %(seq)s, hash = %(hash)s, signature = %(sig)s "
    "WHERE id = 1 AND EXISTS (SELECT 1 FROM e)"
)
#: Lock and read the head: used alone, or as a CTE of the caller's statement.
HEAD_LOCK_SQL = "SELECT seq, hash, signature FROM audit_head WHERE id = 1 FOR UPDATE"
_HEAD_CHECK = heads.HEAD_CHECK_SQL.replace(":cp", "%(cp)s")


def install(engine: Engine) -> None:
    """Send a held-back event before any other statement on ``engine``'s connections, and
    forget it when its transaction rolls back or its connection goes back to the pool."""
    if event.contains(engine, "before_cursor_execute", _before_statement):
        return
    event.listen(engine, "before_cursor_execute", _before_statement)
    event.listen(engine, "rollback", discard_pending)
    event.listen(engine.pool, "checkin", _forget_on_checkin)


def _forget_on_checkin(dbapi_conn: Any, record: Any) -> None:
    if record is not None:
        record.info.pop(_PENDING, None)


def _before_statement(
    conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    if _PENDING in conn.info:
        flush_pending(conn)


def holds_head(session: Session) -> bool:
    """Whether this transaction has already locked and read the chain head."""
    return heads.HEAD_STATE_KEY in session.info


def refuse_unreadable(exc: DBAPIError, anchor: heads.AuditAnchor | None) -> NoReturn:
    """Refuse the write of a statement that could not read the audit tables."""
    heads.refuse(f"the audit tables cannot be read ({exc.orig})", anchor)


def adopt_locked_head(
    session: Session, row: Any, *, key: bytes, anchor: heads.AuditAnchor | None
) -> None:
    """Take the head ``(seq, hash, signature)`` that the caller locked (``FOR UPDATE``)
    and read in its own statement; refuse (nothing is written) unless it verifies."""
    conn = session.connection()
    if anchor is not None and anchor.blocked:
        heads.refuse(anchor.blocked, anchor)
    if (
        row is None
        or row[0] is None
        or not hmac.compare_digest(row[2] or "", heads.sign_head(key, int(row[0]), str(row[1])))
    ):
        _diagnose_and_refuse(conn, key, anchor)
    session.info[heads.HEAD_STATE_KEY] = {
        "seq": int(row[0]),
        "hash": str(row[1]),
        "key": key,
        "dirty": False,
        "start": int(row[0]),
        "anchor": anchor,
        "checked": False,
    }
    heads.install_head_writer(session)


def append(
    session: Session,
    *,
    key: bytes,
    actor: str,
    action: str,
    subject: str,
    before: Any,
    after: Any,
    anchor: heads.AuditAnchor | None,
) -> int:
    """Append one event (see the module docstring); return its seq."""
    conn = session.connection()
    if not holds_head(session):
        if anchor is not None and anchor.blocked:
            heads.refuse(anchor.blocked, anchor)
        try:
            row = conn.exec_driver_sql(HEAD_LOCK_SQL).first()
        except DBAPIError as exc:
            if not heads.schema_error(exc):
                raise
            heads.refuse(f"the audit tables cannot be read ({exc.orig})", anchor)
        adopt_locked_head(session, row, key=key, anchor=anchor)
    state = session.info[heads.HEAD_STATE_KEY]
    seq = int(state["seq"]) + 1
    params = chain.event_row(state["hash"], seq, actor, action, subject, before, after)
    digest = params["hash"]
    params["sig"] = heads.sign_head(key, seq, digest)
    if state["checked"]:
        sql = _APPEND
    else:
        sql = _APPEND_CHECKED
        params |= {
            "head_seq": state["seq"],
            "head_hash": state["hash"],
            "cp": anchor.checkpoint_seq if anchor is not None else 0,
            "cp_hash": anchor.checkpoint_hash if anchor is not None else heads.GENESIS_HASH,
        }
        state["checked"] = True
    # Held back behind the events before it: they are all sent, in order, in one round trip.
    conn.info.setdefault(_PENDING, []).append((sql, params, key, anchor))
    state.update(seq=seq, hash=digest, written=True)
    return seq


def flush_pending(conn: Connection) -> None:
    """Send the held-back events now (before another statement of their transaction)."""
    pending = conn.info.pop(_PENDING, None)
    if not pending:
        return
    raw = _driver(conn)
    _, _, key, anchor = pending[0]
    if len(pending) == 1:
        sql, params, _, _ = pending[0]
        _run(raw, key, anchor, lambda: raw.execute(sql, params))
        return

    def send() -> None:
        with raw.pipeline():
            for sql, params, _, _ in pending:
                raw.execute(sql, params)

    _run(raw, key, anchor, send)


def discard_pending(conn: Connection) -> None:
    """Forget a held-back event (its transaction rolled back)."""
    conn.info.pop(_PENDING, None)


def commit_with_pending(session: OrmSession) -> None:
    """Called just before the commit: send the held-back events and ``COMMIT`` in one round
    trip. The session's own commit then finds the transaction already committed."""
    conn = session.connection()
    pending = conn.info.pop(_PENDING, None)
    if not pending:
        return
    _, _, key, anchor = pending[0]
    raw = _driver(conn)

    def send() -> None:
        # COMMIT as a statement, not ``raw.commit()``: that one syncs the pipeline, and
        # leaving the pipeline syncs again, a second round trip for nothing.
        with raw.pipeline():
            for sql, params, _, _ in pending:
                raw.execute(sql, params)
            raw.execute(b"COMMIT", prepare=False)

    _run(raw, key, anchor, send)


def _driver(conn: Connection) -> Any:
    """The psycopg connection under ``conn`` (pipelines are not reachable through SQLAlchemy)."""
    return conn.connection.driver_connection


def _run(raw: Any, key: bytes, anchor: heads.AuditAnchor | None, send: Any) -> None:
    import psycopg

    try:
        send()
    except psycopg.errors.NotNullViolation as exc:
        if exc.diag.table_name != "audit_events" or exc.diag.column_name != "seq":
            raise
        _diagnose_raw(raw, key, anchor)
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
        raw.rollback()
        heads.refuse(f"the audit tables cannot be read or written ({exc})", anchor)


def _diagnose_raw(raw: Any, key: bytes, anchor: heads.AuditAnchor | None) -> NoReturn:
    """The checked append failed: name what is wrong (outside the aborted transaction)."""
    raw.rollback()
    row = raw.execute(_HEAD_CHECK, {"cp": anchor.checkpoint_seq if anchor else 0}).fetchone()
    raw.rollback()
    heads.check_head(row, key, anchor)
    heads.refuse("the chain's tail changed while this writer held the head lock", anchor)


def _diagnose_and_refuse(
    conn: Connection, key: bytes, anchor: heads.AuditAnchor | None
) -> NoReturn:
    row = conn.execute(heads.HEAD_CHECK, {"cp": anchor.checkpoint_seq if anchor else 0}).first()
    heads.check_head(row, key, anchor)
    heads.refuse("the chain's head changed while this writer read it", anchor)
