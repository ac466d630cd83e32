"""The audit chain's head: its signature, the check before extending it, its write-back.

The head row (``audit_head``, id 1) holds the last sequence number and hash, signed
with HMAC-SHA256 under the audit key. Before the first append of a transaction a
writer reads it with :data:`HEAD_CHECK` and passes the row to :func:`check_head`,
which refuses (:func:`refuse`) unless the signature verifies, the last event is the
one the head names and the chain still holds the newest known checkpoint. The
transaction's head state lives in ``session.info[HEAD_STATE_KEY]``;
:func:`install_head_writer` puts in place the commit hooks that write the head back,
signed, once per transaction. The generic path (:mod:`lmops_core.audit.chain`), the
PostgreSQL path (:mod:`lmops_core.audit.postgres`) and the ledger
(:mod:`lmops_core.audit.ledger`) all go through these names.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from lmops_core.errors import AuditRefusedError

_log = logging.getLogger("lmops.audit")
#: The hash an empty chain's head names (the ``prev_hash`` of event 1).
GENESIS_HASH = "0" * 64
#: ``Session.info`` key of the head state of a transaction that took the head.
HEAD_STATE_KEY = "lmops_audit_head"
#: The head row, the last event and the event of checkpoint ``:cp``, in one read:
#: ``(seq, hash, signature, last_seq, last_hash, cp_hash)``, as :func:`head_problem` takes it.
HEAD_CHECK_SQL = (
    "SELECT h.seq, h.hash, h.signature, e.seq, e.hash, c.hash FROM audit_head h "
    "LEFT JOIN audit_events e ON e.seq = (SELECT max(seq) FROM audit_events) "
    "LEFT JOIN audit_events c ON c.seq = :cp WHERE h.id = 1"
)
#: :data:`HEAD_CHECK_SQL` as a statement.
HEAD_CHECK = text(HEAD_CHECK_SQL)
_HEAD_UPDATE = text("UPDATE audit_head SET seq = :seq, hash = :hash, signature = :sig WHERE id = 1")


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


def check_head(
    row: Sequence[Any] | None, key: bytes, anchor: AuditAnchor | None
) -> tuple[int, str]:
    """The head's ``(seq, hash)`` from a :data:`HEAD_CHECK` row, or :func:`refuse` naming
    what is wrong (the anchor's ``blocked`` reason first)."""
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
        refuse(problem, anchor)
    assert row is not None
    return int(row[0]), str(row[1])


def refuse(problem: str, anchor: AuditAnchor | None) -> NoReturn:
    """Log ``problem``, raise the anchor's alarm and raise :class:`AuditRefusedError`."""
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


def install_head_writer(session: Session) -> None:
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
    state = sess.info.get(HEAD_STATE_KEY)
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
    state = sess.info.pop(HEAD_STATE_KEY, None)
    anchor = state and state.get("anchor")
    if state and state.get("written") and anchor is not None and anchor.on_commit:
        try:
            anchor.on_commit(state["start"], state["seq"], state["hash"])
        except Exception:  # committed already; a missed checkpoint is logged, not fatal
            _log.exception("audit log: writing a checkpoint after commit failed")


def _forget_head(sess: OrmSession) -> None:
    # The next transaction must read (and lock) the head again.
    sess.info.pop(HEAD_STATE_KEY, None)
