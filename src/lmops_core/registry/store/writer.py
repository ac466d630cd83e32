"""The audit writer every registry write records through, and what it recorded of authors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlmodel import Session, col

from lmops_core.audit.chain import append_event
from lmops_core.audit.heads import AuditAnchor
from lmops_core.redaction import redact
from lmops_core.registry.models import AuditHead


@dataclass(frozen=True)
class AuditWriter:
    """Appends audit events with the workspace's key, as one actor."""

    key: bytes
    actor: str
    #: The workspace's knowledge of the chain beyond the database (newest checkpoint).
    anchor: AuditAnchor | None = None
    #: How ``actor`` was established (``token``, ``personal-key``, ``os-user``, ``asserted``);
    #: recorded with each new version, so separation of duties knows whether its author is
    #: known or only named.
    identity: str = "asserted"

    def record(
        self, session: Session, action: str, subject: str, *, before: Any = None, after: Any = None
    ) -> None:
        # Secrets never reach the audit log (lmops_core.redaction).
        append_event(
            session,
            key=self.key,
            actor=self.actor,
            action=action,
            subject=subject,
            before=redact(before),
            after=redact(after),
            anchor=self.anchor,
        )


def locked_head_columns() -> list[Any]:
    """The audit head's ``(seq, hash, signature)``, locked ``FOR UPDATE``, as scalar
    subqueries a write statement on PostgreSQL returns beside its own columns, so the
    head is taken in the same round trip (for
    :func:`~lmops_core.audit.postgres.adopt_locked_head`)."""
    head = (
        select(col(AuditHead.seq), col(AuditHead.hash), col(AuditHead.signature))
        .where(col(AuditHead.id) == 1)
        .with_for_update()
        .cte("head")
    )
    return [select(c).scalar_subquery() for c in head.c]


def author_identity(session: Session, asset_type: str, ref: str) -> str:
    """How the author of version ``ref`` was established when it was registered.

    Read from the version's audit event (``<type>_version.create``); a version
    registered before this was recorded, or whose event is missing, is
    ``asserted``: an author nobody verified.
    """
    row = (
        session.connection()
        .execute(
            text(
                "SELECT after FROM audit_events WHERE subject = :ref AND action = :action "
                "ORDER BY seq LIMIT 1"
            ),
            {"ref": ref, "action": f"{asset_type}{CREATION_ACTION_SUFFIX}"},
        )
        .first()
    )
    return author_method(None if row is None else row[0])


#: The ``action`` of a version's creation event: ``asset_type`` ``||`` this.
CREATION_ACTION_SUFFIX = "_version.create"


def author_method(creation_after: Any) -> str:
    """How an author was established, from the ``after`` of the version's creation event
    (``None``: no such event, so ``asserted``), as :func:`author_identity` reads it."""
    if creation_after is None:
        return "asserted"
    try:
        after = json.loads(creation_after) if isinstance(creation_after, str) else creation_after
    except ValueError:
        return "asserted"
    method = after.get("identity") if isinstance(after, dict) else None
    return method if isinstance(method, str) else "asserted"
