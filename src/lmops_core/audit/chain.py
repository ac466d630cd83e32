"""The hash-chained audit log.

Each event's hash covers its own fields and the previous event's hash, so an
edit, a deletion or a reordering breaks the chain at the first event
touched. The chain head (last sequence number and hash) is kept in its own
row, signed with HMAC-SHA256 under the audit key, which lives outside the
database; cutting events off the tail, or rolling the head back, therefore
fails verification unless the attacker also holds the key.

Event hashes are plain SHA-256, which anyone can recompute, so a writer
checks the head's signature and the last event before extending the chain
(it never signs a history re-chained without the key), and the chain's
progress is also proven outside the database by signed checkpoints
(:mod:`lmops_core.audit.checkpoints`). A head rolled back to an older, genuinely
signed state is caught against those checkpoints.

Appending happens inside the caller's transaction, after the state change it
records, so the change and its event commit or roll back together.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from lmops_core.errors import AuditRefusedError

_log = logging.getLogger("lmops.audit")
GENESIS_HASH = "0" * 64
_FIELD_SEP = "\x1f"


@dataclass(frozen=True)
class CanonicalJSON:
    """An event's ``before`` or ``after``, already redacted and in :func:`canonical_json`
    form: prepared before the transaction locks the chain head, it is not redone inside."""

    text: str


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces); dates and paths become strings."""
    if isinstance(value, CanonicalJSON):
        return value.text
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)


def event_hash(
    prev_hash: str,
    seq: int,
    ts: str,
    actor: str,
    action: str,
    subject: str,
    before: str,
    after: str,
) -> str:
    """The chained hash of one event."""
    payload = _FIELD_SEP.join((prev_hash, str(seq), ts, actor, action, subject, before, after))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def sign_head(key: bytes, seq: int, head_hash: str) -> str:
    """HMAC of the chain head; binds the count of events to the last hash."""
    return hmac.new(key, f"lmops-audit-head:{seq}:{head_hash}".encode(), hashlib.sha256).hexdigest()


@dataclass
class AuditAnchor:
    """What writers of one workspace know about the chain beyond the database.

    ``checkpoint_seq``/``checkpoint_hash`` are the newest signed checkpoint this
    process has seen (0 when none): the chain may never again be shorter, nor
    differ at that event. ``on_refusal`` raises the alarm when an append is
    refused; ``on_commit(start_seq, seq, hash)`` runs after a transaction that
    appended events has committed (checkpoints are written from there).
    """

    checkpoint_seq: int = 0
    checkpoint_hash: str = GENESIS_HASH
    #: Why every write is refused (genesis missing or altered), or ``None``.
    blocked: str | None = None
    on_refusal: Callable[[str], None] | None = None
    on_commit: Callable[[int, int, str], None] | None = None


def append_event(
    session: Session,
    *,
    key: bytes,
    actor: str,
    action: str,
    subject: str,
    before: Any = None,
    after: Any = None,
    anchor: AuditAnchor | None = None,
) -> int:
    """Append one event to the chain inside the caller's transaction; return its seq.

    The first append of a transaction takes the head (SQLite write
    transactions are already exclusive; PostgreSQL locks the head row, see
    :mod:`lmops_core.audit.postgres`), reads it with the last event and the event of the
    newest known checkpoint, and refuses (:class:`AuditRefusedError`, nothing written)
    unless the head's signature verifies, the last event is the one the head
    names, and the chain still holds the checkpoint. So a writer never signs a
    history that someone re-chained without the key. Later appends of the same
    transaction continue from the head kept in the session, and the head row
    is written, signed, once, just before the transaction commits (on
    PostgreSQL, with each event, in the same statement).
    Plain SQL, not ORM objects: this runs on every write.
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        from lmops_core.audit import postgres

        return postgres.append(
            session,
            key=key,
            actor=actor,
            action=action,
            subject=subject,
            before=before,
            after=after,
            anchor=anchor,
        )
    state = session.info.get(_HEAD_KEY)
    if state is None:
        cp_seq = anchor.checkpoint_seq if anchor is not None else 0
        try:
            row = conn.execute(_HEAD_CHECK, {"cp": cp_seq}).first()
        except DBAPIError as exc:
            if not schema_error(exc):
                raise
            _refuse(f"the audit tables cannot be read ({exc.orig})", anchor)
        head_seq, head_hash = _check_head(row, key, anchor)
        state = session.info[_HEAD_KEY] = {
            "seq": head_seq,
            "hash": head_hash,
            "key": key,
            "dirty": False,
            "start": head_seq,
            "anchor": anchor,
        }
        _install_head_writer(session)
    seq: int = state["seq"] + 1
    ts = datetime.now(UTC).isoformat(timespec="microseconds")
    before_s, after_s = canonical_json(before), canonical_json(after)
    digest = event_hash(state["hash"], seq, ts, actor, action, subject, before_s, after_s)
    conn.execute(
        _EVENT_INSERT,
        {
            "seq": seq,
            "ts": ts,
            "actor": actor,
            "action": action,
            "subject": subject,
            "before": before_s,
            "after": after_s,
            "prev": state["hash"],
            "hash": digest,
        },
    )
    state.update(seq=seq, hash=digest, key=key, dirty=True)
    return seq


def head_problem(
    row: Sequence[Any] | None,
    key: bytes,
    checkpoint_seq: int = 0,
    checkpoint_hash: str = GENESIS_HASH,
) -> str | None:
    """Why the head row ``(seq, hash, signature, last_seq, last_hash, cp_hash)`` cannot be
    extended, or ``None`` when it verifies."""
    if row is None:
        return "the chain head row (audit_head, id 1) is missing"
    seq, head_hash, signature, last_seq, last_hash, cp_hash = row
    if not hmac.compare_digest(signature or "", sign_head(key, seq, head_hash)):
        return (
            f"the chain head's signature does not verify (head seq {seq} edited, "
            "reset, or a wrong audit key)"
        )
    if (last_seq or 0) != seq:
        return (
            f"the signed head records {seq} events but the last event is "
            f"{last_seq or 0} (events deleted or forged after the head)"
        )
    if seq and last_hash != head_hash:
        return (
            f"event {seq}'s hash differs from the signed head's "
            "(the history was edited and re-chained)"
        )
    if checkpoint_seq:
        if seq < checkpoint_seq:
            return (
                f"the chain has {seq} events but a signed checkpoint recorded "
                f"{checkpoint_seq} (the history was truncated and its head rolled back)"
            )
        if cp_hash != checkpoint_hash:
            return (
                f"event {checkpoint_seq}'s hash differs from the signed checkpoint at "
                f"that seq (the history was rewritten)"
            )
    return None


def _check_head(
    row: Sequence[Any] | None, key: bytes, anchor: AuditAnchor | None
) -> tuple[int, str]:
    problem = (
        anchor.blocked
        if anchor is not None and anchor.blocked
        else head_problem(
            row,
            key,
            anchor.checkpoint_seq if anchor else 0,
            anchor.checkpoint_hash if anchor else GENESIS_HASH,
        )
    )
    if problem is not None:
        _refuse(problem, anchor)
    assert row is not None
    return int(row[0]), str(row[1])


def _refuse(problem: str, anchor: AuditAnchor | None) -> NoReturn:
    _log.error("audit log: refusing to append: %s", problem)
    if anchor is not None and anchor.on_refusal is not None:
        try:
            anchor.on_refusal(problem)
        except Exception:  # the alarm must not hide the refusal itself
            _log.exception("audit log: raising the alert failed")
    raise AuditRefusedError(
        f"refusing to write: the audit log head does not verify: {problem}. Nothing was "
        "recorded; run `lmops audit verify` and restore the store from a backup.",
        reason=problem,
    )


def schema_error(exc: DBAPIError) -> bool:
    """Whether a database error means an audit table or column is gone (not a busy lock)."""
    if isinstance(exc, ProgrammingError):
        return True
    return isinstance(exc, OperationalError) and "no such" in str(exc.orig)


_HEAD_KEY = "lmops_audit_head"


def _install_head_writer(session: Session) -> None:
    """Make sure the commit hooks of the chain are in place for ``session``.

    They are registered once, for every :class:`~sqlalchemy.orm.Session`, and act
    only on a session whose transaction took the head: registering listeners on
    each session instead costs more than the rest of an append, and runs while the
    head is locked.
    """
    if not event.contains(OrmSession, "before_commit", _write_head):
        event.listen(OrmSession, "before_commit", _write_head)
        event.listen(OrmSession, "after_commit", _after_commit)
        event.listen(OrmSession, "after_rollback", _forget_head)


def _write_head(sess: OrmSession) -> None:
    state = sess.info.get(_HEAD_KEY)
    if not state:
        return
    if sess.get_bind().dialect.name == "postgresql":
        from lmops_core.audit import postgres

        sess.flush()  # pending ORM writes go first, inside the transaction
        postgres.commit_with_pending(sess)
        return
    if state["dirty"]:
        sess.connection().execute(
            _HEAD_UPDATE,
            {
                "seq": state["seq"],
                "hash": state["hash"],
                "sig": sign_head(state["key"], state["seq"], state["hash"]),
            },
        )
        state["dirty"] = False
        state["written"] = True


def _after_commit(sess: OrmSession) -> None:
    state = sess.info.pop(_HEAD_KEY, None)
    anchor = state and state.get("anchor")
    if state and state.get("written") and anchor is not None and anchor.on_commit:
        try:
            anchor.on_commit(state["start"], state["seq"], state["hash"])
        except Exception:  # committed already; a missed checkpoint is logged, not fatal
            _log.exception("audit log: writing a checkpoint after commit failed")


def _forget_head(sess: OrmSession) -> None:
    # The next transaction must read (and lock) the head again.
    sess.info.pop(_HEAD_KEY, None)


_HEAD_CHECK_SQL = (
    "SELECT h.seq, h.hash, h.signature, e.seq, e.hash, c.hash FROM audit_head h "
    "LEFT JOIN audit_events e ON e.seq = (SELECT max(seq) FROM audit_events) "
    "LEFT JOIN audit_events c ON c.seq = :cp WHERE h.id = 1"
)
_HEAD_CHECK = text(_HEAD_CHECK_SQL)
_EVENT_INSERT = text(
    "INSERT INTO audit_events (seq, ts, actor, action, subject, before, after, prev_hash, hash) "
    "VALUES (:seq, :ts, :actor, :action, :subject, :before, :after, :prev, :hash)"
)
_HEAD_UPDATE = text("UPDATE audit_head SET seq = :seq, hash = :hash, signature = :sig WHERE id = 1")


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of checking the whole chain."""

    ok: bool
    events: int
    first_bad_seq: int | None = None
    reason: str = ""
    #: Which signed checkpoint the chain was checked against ("" when none was).
    checkpoint: str = ""
    #: What is at fault when it is not an event: "chain head", "genesis", "checkpoint ...".
    location: str = ""

    def __str__(self) -> str:
        against = (
            f"; checked against {self.checkpoint}"
            if self.checkpoint
            else "; no signed checkpoint found to check against"
        )
        if self.ok:
            return (
                f"audit log verified: {self.events} events, chain and signed head intact{against}"
            )
        where = (
            f"event {self.first_bad_seq}"
            if self.first_bad_seq is not None
            else self.location or "chain head"
        )
        return f"audit log BROKEN at {where}: {self.reason}"


Row = tuple[int, str, str, str, str, str, str, str, str]


def verify_rows(
    rows: Iterable[Row],
    head: tuple[int, str, str] | None,
    key: bytes,
    *,
    allow_unsigned_genesis: bool = True,
) -> VerifyResult:
    """Check a stream of ``(seq, ts, actor, action, subject, before, after, prev, hash)`` rows.

    ``head`` is ``(seq, hash, signature)``, ``None`` when the head row is gone.
    An empty chain under an unsigned genesis head passes only with
    ``allow_unsigned_genesis`` (a store that has no genesis record yet).
    """
    expected_seq = 1
    prev = GENESIS_HASH
    count = 0
    sha = hashlib.sha256
    sep = _FIELD_SEP
    for seq, ts, actor, action, subject, before, after, prev_hash, stored in rows:
        if seq != expected_seq:
            missing = expected_seq if seq > expected_seq else seq
            return VerifyResult(
                False,
                count,
                missing,
                f"sequence jumps from {expected_seq - 1} to {seq} (events deleted or reordered)",
            )
        if prev_hash != prev:
            return VerifyResult(
                False, count, seq, "its prev_hash does not match the hash of the event before it"
            )
        computed = sha(
            sep.join((prev, str(seq), ts, actor, action, subject, before, after)).encode("utf-8")
        ).hexdigest()
        if computed != stored:
            return VerifyResult(
                False, count, seq, "its content does not match its hash (the event was edited)"
            )
        prev = stored
        expected_seq += 1
        count += 1
    if head is None:
        return VerifyResult(
            False,
            count,
            None,
            f"the chain head row (audit_head, id 1) is missing; {count} events are present",
        )
    head_seq, head_hash, signature = head
    if (
        allow_unsigned_genesis
        and head_seq == 0
        and head_hash == GENESIS_HASH
        and count == 0
        and not signature
    ):
        return VerifyResult(True, 0)
    if not hmac.compare_digest(signature, sign_head(key, head_seq, head_hash)):
        return VerifyResult(
            False,
            count,
            None,
            "the chain head's signature is invalid (head edited, reset, or wrong audit key)",
            location="chain head",
        )
    if head_seq != count:
        first_missing = count + 1 if head_seq > count else head_seq + 1
        return VerifyResult(
            False,
            count,
            first_missing,
            f"the signed head records {head_seq} events but {count} are present "
            "(the tail was truncated or events were forged after it)",
            location="chain head",
        )
    if head_hash != prev:
        return VerifyResult(
            False,
            count,
            None,
            f"event {count}'s hash differs from the signed head's: the history "
            "was edited and re-chained without the key",
            location="chain head",
        )
    return VerifyResult(True, count)


def verify_session(
    session: Session, key: bytes, *, batch: int = 20_000, allow_unsigned_genesis: bool = True
) -> VerifyResult:
    """Verify the chain stored in the database behind ``session``.

    Rows are streamed through the driver's own cursor (a server-side cursor on
    PostgreSQL), as plain tuples: verification is a hot loop over every event.
    """
    conn = session.connection()
    head_row = conn.execute(
        text("SELECT seq, hash, signature FROM audit_head WHERE id = 1")
    ).first()
    head = None if head_row is None else (int(head_row[0]), str(head_row[1]), str(head_row[2]))
    raw = conn.connection.driver_connection
    query = (
        "SELECT seq, ts, actor, action, subject, before, after, prev_hash, hash "
        "FROM audit_events ORDER BY seq"
    )
    if conn.dialect.name == "postgresql":
        cursor = raw.cursor(name="lmops_audit_verify")  # type: ignore[union-attr]
        cursor.itersize = batch
    else:
        cursor = raw.cursor()  # type: ignore[union-attr]
    try:
        try:
            cursor.execute(query)
        except conn.dialect.loaded_dbapi.Error as exc:
            if not (
                str(getattr(exc, "sqlstate", "") or "").startswith("42") or "no such" in str(exc)
            ):
                raise
            return VerifyResult(
                False,
                0,
                None,
                f"the audit events cannot be read: {exc}",
                location="database schema",
            )

        def rows() -> Iterator[Row]:
            while part := cursor.fetchmany(batch):
                yield from part

        return verify_rows(rows(), head, key, allow_unsigned_genesis=allow_unsigned_genesis)
    finally:
        cursor.close()
