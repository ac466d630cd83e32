"""The hash-chained audit log.

Each event's hash covers its own fields and the previous event's hash, so an
edit, a deletion or a reordering breaks the chain at the first event
touched. The chain head (last sequence number and hash) is kept in its own
row, signed with HMAC-SHA256 under the audit key, which lives outside the
database (:mod:`lmops_core.audit.heads`); cutting events off the tail, or rolling the head back, therefore
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
import itertools
import json
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

# GENESIS_HASH, AuditAnchor and sign_head are part of the chain's own interface too.
from lmops_core.audit.heads import GENESIS_HASH as GENESIS_HASH
from lmops_core.audit.heads import (
    HEAD_CHECK,
    HEAD_STATE_KEY,
    check_head,
    install_head_writer,
    refuse,
    schema_error,
)
from lmops_core.audit.heads import AuditAnchor as AuditAnchor
from lmops_core.audit.heads import sign_head as sign_head

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
    state = session.info.get(HEAD_STATE_KEY)
    if state is None:
        cp_seq = anchor.checkpoint_seq if anchor is not None else 0
        try:
            row = conn.execute(HEAD_CHECK, {"cp": cp_seq}).first()
        except DBAPIError as exc:
            if not schema_error(exc):
                raise
            refuse(f"the audit tables cannot be read ({exc.orig})", anchor)
        head_seq, head_hash = check_head(row, key, anchor)
        state = session.info[HEAD_STATE_KEY] = {
            "seq": head_seq,
            "hash": head_hash,
            "key": key,
            "dirty": False,
            "start": head_seq,
            "anchor": anchor,
        }
        install_head_writer(session)
    seq: int = state["seq"] + 1
    event = event_row(state["hash"], seq, actor, action, subject, before, after)
    conn.execute(_EVENT_INSERT, event)
    state.update(seq=seq, hash=event["hash"], key=key, dirty=True)
    return seq


def event_row(
    prev_hash: str, seq: int, actor: str, action: str, subject: str, before: Any, after: Any
) -> dict[str, Any]:
    """Event ``seq``, stamped now and hashed after ``prev_hash``, as the parameters of an
    insert into ``audit_events``: ``seq, ts, actor, action, subject, before, after, prev,
    hash``."""
    ts = datetime.now(UTC).isoformat(timespec="microseconds")
    before_s, after_s = canonical_json(before), canonical_json(after)
    return {
        "seq": seq,
        "ts": ts,
        "actor": actor,
        "action": action,
        "subject": subject,
        "before": before_s,
        "after": after_s,
        "prev": prev_hash,
        "hash": event_hash(prev_hash, seq, ts, actor, action, subject, before_s, after_s),
    }


_EVENT_INSERT = text(
    "INSERT INTO audit_events (seq, ts, actor, action, subject, before, after, prev_hash, hash) "
    "VALUES (:seq, :ts, :actor, :action, :subject, :before, :after, :prev, :hash)"
)


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

        def fetch() -> list[Row]:
            return list(cursor.fetchmany(batch))

        # PostgreSQL computes the next batch while this thread hashes the one it has.
        batches = prefetched(fetch) if conn.dialect.name == "postgresql" else iter(fetch, [])
        try:
            # Batches chained in C: no Python frame per row between the driver and the loop.
            rows: Iterator[Row] = itertools.chain.from_iterable(batches)
            return verify_rows(rows, head, key, allow_unsigned_genesis=allow_unsigned_genesis)
        finally:
            if isinstance(batches, Generator):
                batches.close()  # the fetch in flight, if any, ends before the cursor closes
    finally:
        cursor.close()


Item = TypeVar("Item")


def prefetched(fetch: Callable[[], list[Item]]) -> Generator[list[Item], None, None]:
    """The batches ``fetch()`` returns until an empty one, each asked for (on a thread of
    its own) while the caller works on the one before it.

    A server-side cursor waits for the server on every batch; asked early, the server
    builds the next batch while this process hashes the current one (PostgreSQL, 1M events,
    in-process: 300-361k events/s against 258-282k fetching in turn). One fetch at most is
    in flight, and the caller never touches the cursor meanwhile; closing the generator
    waits for it, so the cursor may be closed right after. A fetch's error is raised where
    its batch is asked for.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lmops-audit-fetch") as pool:
        pending = pool.submit(fetch)
        try:
            while True:
                batch = pending.result()
                if not batch:
                    return
                pending = pool.submit(fetch)
                yield batch
        finally:
            # Leaving early (a broken chain, an error): a fetch not started yet is dropped;
            # one that has started ends before the pool lets go (its own error, if it has
            # one, no longer matters).
            pending.cancel()
