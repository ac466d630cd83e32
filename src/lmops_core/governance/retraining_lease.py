"""Leases on running retraining attempts: a crashed process's attempt is detected and taken over.

An attempt in flight holds its model's one place (``uq_retraining_in_flight``). A
process that dies while running one (killed, out of memory, the machine lost) would
hold that place until a person closed the request. So the process running an attempt
holds a *lease* on it: its host, its pid, a lease id, and an expiry it renews every
third of ``retraining_lease_seconds`` (:class:`Heartbeat`). A running attempt is
*stale* when its lease expired, or when its owner ran on this host and that process
is gone. :func:`take_over` claims a stale attempt with a compare-and-set on the old
lease id, so of several processes that find it stale exactly one takes it over; the
taker carries the attempt on from its recorded steps. Every write an attempt's owner
makes checks that it still holds the lease (:func:`check_held`).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from lmops_core.acting_store import ActingStore
from lmops_core.errors import ConflictError
from lmops_core.governance.models import RetrainingAttempt, TrainingRequest
from lmops_core.governance.policy_facts import aware
from lmops_core.registry.models import utcnow


@dataclass(frozen=True)
class Lease:
    """Who holds a running attempt, under which lease id, until when."""

    host: str
    pid: int
    lease_id: str
    expires_at: datetime

    def columns(self) -> dict[str, Any]:
        """The attempt's columns for this lease."""
        return {
            "owner_host": self.host,
            "owner_pid": self.pid,
            "lease_id": self.lease_id,
            "lease_expires_at": self.expires_at,
        }


def new_lease(ws: ActingStore, now: datetime | None = None) -> Lease:
    """A fresh lease for this process, valid for ``retraining_lease_seconds`` from ``now``."""
    ttl = timedelta(seconds=ws.settings.retraining_lease_seconds)
    return Lease(socket.gethostname(), os.getpid(), uuid.uuid4().hex, (now or utcnow()) + ttl)


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return False


def is_stale(attempt: RetrainingAttempt, now: datetime | None = None) -> bool:
    """Whether a running attempt's process is gone: its lease lapsed or, on this host, its pid
    no longer runs. An attempt without a lease (started before leases existed) is stale."""
    if attempt.state != "running":
        return False
    if attempt.lease_expires_at is None or attempt.owner_pid is None:
        return True
    if aware(attempt.lease_expires_at) <= (now or utcnow()):
        return True
    return attempt.owner_host == socket.gethostname() and _process_gone(attempt.owner_pid)


def stale_attempts(
    ws: ActingStore, *, model: str | None = None, now: datetime | None = None
) -> list[RetrainingAttempt]:
    """Running attempts (of ``model``, or all) whose process is gone, oldest first."""
    q = select(RetrainingAttempt).where(col(RetrainingAttempt.state) == "running")
    if model is not None:
        q = q.where(col(RetrainingAttempt.model) == model)
    with ws.db.read() as s:
        rows = list(s.execute(q.order_by(col(RetrainingAttempt.started_at))).scalars())
        for row in rows:
            s.expunge(row)
    return [row for row in rows if is_stale(row, now)]


def take_over(
    ws: ActingStore, stale: RetrainingAttempt, *, now: datetime | None = None
) -> RetrainingAttempt | None:
    """Claim a stale attempt for this process (None when another process claimed it first).

    The claim only succeeds while the attempt still holds the lease found stale, so two
    takers cannot both win. Audited as ``retraining.takeover`` with the previous owner.
    """
    lease = new_lease(ws, now)
    with ws.db.write() as s:
        same_lease = (
            col(RetrainingAttempt.lease_id).is_(None)
            if stale.lease_id is None
            else col(RetrainingAttempt.lease_id) == stale.lease_id
        )
        claimed = s.execute(
            update(RetrainingAttempt)
            .where(
                col(RetrainingAttempt.id) == stale.id,
                col(RetrainingAttempt.state) == "running",
                same_lease,
            )
            .values(**lease.columns())
            .returning(col(RetrainingAttempt.id))
        ).scalar()
        if claimed is None:
            return None
        ref = s.get(TrainingRequest, stale.request_id)
        previous = f"pid {stale.owner_pid} on {stale.owner_host}" if stale.owner_pid else "none"
        ws.audit_writer.record(
            s,
            "retraining.takeover",
            ref.ref if ref is not None else stale.model,
            after={
                "request_id": stale.request_id,
                "attempt_id": stale.id,
                "previous_owner": previous,
                "previous_lease_expires_at": (
                    stale.lease_expires_at.isoformat() if stale.lease_expires_at else None
                ),
                "owner": f"pid {lease.pid} on {lease.host}",
            },
        )
        attempt = s.get(RetrainingAttempt, stale.id)
        assert attempt is not None
        s.refresh(attempt)
        s.expunge(attempt)
        return attempt


def check_held(s: Session, attempt: RetrainingAttempt) -> None:
    """Refuse a write by a process that no longer holds the attempt's lease (taken over)."""
    if attempt.state == "running" and attempt.lease_id is not None:
        mine = attempt.owner_pid == os.getpid() and attempt.owner_host == socket.gethostname()
        if not mine:
            raise ConflictError(
                f"retraining attempt {attempt.id} was taken over by pid {attempt.owner_pid} on "
                f"{attempt.owner_host}; this process no longer runs it"
            )


def renew(ws: ActingStore, attempt_id: str, lease_id: str) -> bool:
    """Push the lease's expiry forward; False when the lease is no longer this one."""
    expires = utcnow() + timedelta(seconds=ws.settings.retraining_lease_seconds)
    with ws.db.write() as s:
        renewed = s.execute(
            update(RetrainingAttempt)
            .where(
                col(RetrainingAttempt.id) == attempt_id,
                col(RetrainingAttempt.state) == "running",
                col(RetrainingAttempt.lease_id) == lease_id,
            )
            .values(lease_expires_at=expires)
            .returning(col(RetrainingAttempt.id))
        ).scalar()
    return renewed is not None


class Heartbeat:
    """Renews an attempt's lease in a background thread while the attempt runs here."""

    def __init__(self, ws: ActingStore, attempt: RetrainingAttempt) -> None:
        self.ws = ws
        self.attempt_id = attempt.id
        self.lease_id = attempt.lease_id or ""
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"lmops-lease-{attempt.id[:8]}", daemon=True
        )
        #: False once a renewal found the lease gone (the attempt ended or was taken over).
        self.held = True

    def _beat(self) -> None:
        interval = self.ws.settings.retraining_lease_seconds / 3
        while not self._stop.wait(interval):
            if not renew(self.ws, self.attempt_id, self.lease_id):
                self.held = False
                return

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


__all__ = [
    "Heartbeat",
    "Lease",
    "check_held",
    "is_stale",
    "new_lease",
    "renew",
    "stale_attempts",
    "take_over",
]
