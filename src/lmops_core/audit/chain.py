"""The hash-chained audit log.

Each event's hash covers its own fields and the previous event's hash, so an
edit, a deletion or a reordering breaks the chain at the first event
touched. The chain head (last sequence number and hash) is kept in its own
row, signed with HMAC-SHA256 under the audit key, which lives outside the
database; cutting events off the tail, or rolling the head back, therefore
fails verification unless the attacker also holds the key.

Appending happens inside the caller's transaction, after the state change it
records, so the change and its event commit or roll back together.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, text
from sqlmodel import Session

GENESIS_HASH = "0" * 64
_FIELD_SEP = "\x1f"


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces); dates and paths become strings."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str,
                      ensure_ascii=False)


def event_hash(prev_hash: str, seq: int, ts: str, actor: str, action: str, subject: str,
               before: str, after: str) -> str:
    """The chained hash of one event."""
    payload = _FIELD_SEP.join((prev_hash, str(seq), ts, actor, action, subject, before, after))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def sign_head(key: bytes, seq: int, head_hash: str) -> str:
    """HMAC of the chain head; binds the count of events to the last hash."""
    return hmac.new(key, f"lmops-audit-head:{seq}:{head_hash}".encode(), hashlib.sha256).hexdigest()


def append_event(
    session: Session,
    *,
    key: bytes,
    actor: str,
    action: str,
    subject: str,
    before: Any = None,
    after: Any = None,
) -> int:
    """Append one event to the chain inside the caller's transaction; return its seq.

    The first append of a transaction reads and locks the head row (``FOR
    UPDATE`` on PostgreSQL; SQLite write transactions are already exclusive),
    so concurrent writers extend the chain one at a time. Later appends of the
    same transaction continue from the head kept in the session, and the head
    row is written, signed, once, just before the transaction commits.
    Plain SQL, not ORM objects: this runs on every write.
    """
    conn = session.connection()
    state = session.info.get(_HEAD_KEY)
    if state is None:
        row = conn.execute(_HEAD_SELECT_PG if conn.dialect.name == "postgresql"
                           else _HEAD_SELECT).one()
        state = session.info[_HEAD_KEY] = {"seq": row[0], "hash": row[1], "key": key,
                                           "dirty": False}
        _install_head_writer(session)
    seq = state["seq"] + 1
    ts = datetime.now(UTC).isoformat(timespec="microseconds")
    before_s, after_s = canonical_json(before), canonical_json(after)
    digest = event_hash(state["hash"], seq, ts, actor, action, subject, before_s, after_s)
    conn.execute(_EVENT_INSERT, {"seq": seq, "ts": ts, "actor": actor, "action": action,
                                 "subject": subject, "before": before_s, "after": after_s,
                                 "prev": state["hash"], "hash": digest})
    state.update(seq=seq, hash=digest, key=key, dirty=True)
    return seq


_HEAD_KEY = "lmops_audit_head"


def _install_head_writer(session: Session) -> None:
    if session.info.get("lmops_audit_hooks"):
        return
    session.info["lmops_audit_hooks"] = True

    @event.listens_for(session, "before_commit")
    def _write_head(sess: Session) -> None:
        state = sess.info.get(_HEAD_KEY)
        if state and state["dirty"]:
            sess.connection().execute(_HEAD_UPDATE, {
                "seq": state["seq"], "hash": state["hash"],
                "sig": sign_head(state["key"], state["seq"], state["hash"])})
            state["dirty"] = False

    @event.listens_for(session, "after_commit")
    @event.listens_for(session, "after_rollback")
    def _forget_head(sess: Session) -> None:
        # The next transaction must read (and lock) the head again.
        sess.info.pop(_HEAD_KEY, None)


_HEAD_SELECT = text("SELECT seq, hash FROM audit_head WHERE id = 1")
_HEAD_SELECT_PG = text("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
_EVENT_INSERT = text(
    "INSERT INTO audit_events (seq, ts, actor, action, subject, before, after, prev_hash, hash) "
    "VALUES (:seq, :ts, :actor, :action, :subject, :before, :after, :prev, :hash)")
_HEAD_UPDATE = text("UPDATE audit_head SET seq = :seq, hash = :hash, signature = :sig "
                    "WHERE id = 1")


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of checking the whole chain."""

    ok: bool
    events: int
    first_bad_seq: int | None = None
    reason: str = ""

    def __str__(self) -> str:
        if self.ok:
            return f"audit log verified: {self.events} events, chain and signed head intact"
        where = f"event {self.first_bad_seq}" if self.first_bad_seq is not None else "chain head"
        return f"audit log BROKEN at {where}: {self.reason}"


Row = tuple[int, str, str, str, str, str, str, str, str]


def verify_rows(rows: Iterable[Row], head: tuple[int, str, str], key: bytes) -> VerifyResult:
    """Check a stream of ``(seq, ts, actor, action, subject, before, after, prev, hash)`` rows."""
    expected_seq = 1
    prev = GENESIS_HASH
    count = 0
    sha = hashlib.sha256
    sep = _FIELD_SEP
    for seq, ts, actor, action, subject, before, after, prev_hash, stored in rows:
        if seq != expected_seq:
            missing = expected_seq if seq > expected_seq else seq
            return VerifyResult(False, count, missing,
                                f"sequence jumps from {expected_seq - 1} to {seq} "
                                "(events deleted or reordered)")
        if prev_hash != prev:
            return VerifyResult(False, count, seq,
                                "its prev_hash does not match the hash of the event before it")
        computed = sha(sep.join((prev, str(seq), ts, actor, action, subject, before, after))
                       .encode("utf-8")).hexdigest()
        if computed != stored:
            return VerifyResult(False, count, seq,
                                "its content does not match its hash (the event was edited)")
        prev = stored
        expected_seq += 1
        count += 1
    head_seq, head_hash, signature = head
    if head_seq == 0 and head_hash == GENESIS_HASH and count == 0:
        return VerifyResult(True, 0)
    if not hmac.compare_digest(signature, sign_head(key, head_seq, head_hash)):
        return VerifyResult(False, count, None,
                            "the chain head's signature is invalid (head edited, or wrong audit key)")
    if head_seq != count or head_hash != prev:
        first_missing = count + 1 if head_seq > count else head_seq + 1
        return VerifyResult(False, count, first_missing,
                            f"the signed head records {head_seq} events but {count} are present "
                            "(the tail was truncated or altered)")
    return VerifyResult(True, count)


def verify_session(session: Session, key: bytes, *, batch: int = 20_000) -> VerifyResult:
    """Verify the chain stored in the database behind ``session``.

    Rows are streamed through the driver's own cursor (a server-side cursor on
    PostgreSQL), as plain tuples: verification is a hot loop over every event.
    """
    conn = session.connection()
    head_row = conn.execute(text("SELECT seq, hash, signature FROM audit_head WHERE id = 1")).one()
    raw = conn.connection.driver_connection
    query = ("SELECT seq, ts, actor, action, subject, before, after, prev_hash, hash "
             "FROM audit_events ORDER BY seq")
    if conn.dialect.name == "postgresql":
        cursor = raw.cursor(name="lmops_audit_verify")  # type: ignore[union-attr]
        cursor.itersize = batch
    else:
        cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(query)

        def rows() -> Iterator[Row]:
            while part := cursor.fetchmany(batch):
                yield from part

        return verify_rows(rows(), (head_row[0], head_row[1], head_row[2]), key)
    finally:
        cursor.close()
