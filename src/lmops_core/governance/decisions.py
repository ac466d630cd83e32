"""What every governance decision shares: how it resolves a version, checks its words,
ends a request, and tells the ``lmops_after_decision`` observers once it is committed.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, Self, TypedDict, Unpack

from sqlalchemy import Engine
from sqlmodel import Session

from lmops_core.contracts import Decision, DecisionEvent
from lmops_core.errors import PermissionDeniedError, ValidationError
from lmops_core.governance.access import Access
from lmops_core.governance.identity import Identity
from lmops_core.governance.models import ApprovalRequest
from lmops_core.governance.policy_facts import GOVERNANCE_KIND_STAGES, PolicySource
from lmops_core.plugins import PluginHost
from lmops_core.registry import store
from lmops_core.registry.db import Database
from lmops_core.registry.models import utcnow
from lmops_core.registry.names import parse_ref
from lmops_core.registry.store import AuditWriter
from lmops_core.terms import GovernedStage
from lmops_core.vocabulary import GOVERNED_STAGES

#: A version with this status enters no stage until it is revalidated.
REVALIDATION_REQUIRED = "revalidation-required"
#: How a pending request ends without a decision: it lapsed, or what it judged changed.
Ending = Literal["expired", "invalidated"]

logger = logging.getLogger("lmops.governance")


class CoreEvidence(TypedDict):
    """What the core's own evidence says: its kind (which fixes its stage) and its content."""

    kind: str
    metrics: Mapping[str, Any]
    details: Mapping[str, Any]


@dataclass(kw_only=True, eq=False)  # compared and hashed by identity
class GovernancePart:
    """What each part of the governance service holds: the store, who acts, the policy.

    ``home`` is the folder of the server's own signing key (decisions made by
    token are signed with it).
    """

    db: Database
    identity: Identity
    audit: AuditWriter
    access: Access
    policy_source: PolicySource
    plugins: PluginHost
    home: Path

    @classmethod
    def sharing(cls, other: GovernancePart) -> Self:
        """A part holding the same store, identity and policy as ``other``."""
        return cls(**{f.name: getattr(other, f.name) for f in fields(GovernancePart)})

    def record_evidence(
        self,
        s: Session,
        asset_type: str,
        version: Any,
        *,
        expected_digest: str | None = None,
        **fields: Unpack[CoreEvidence],
    ) -> None:
        """Attach the core's own evidence ``kind`` (one of ``GOVERNANCE_KIND_STAGES``, which
        says its stage) to ``version``, as measured on ``expected_digest`` (default: the
        version's digest now)."""
        values, subject = self.evidence_values(
            s, asset_type, version, expected_digest=expected_digest or version.digest, **fields
        )
        evidence_id = store.insert_evidence(s, values)
        store.record_attached(s, self.audit, evidence_id, values, subject)

    def evidence_values(
        self,
        s: Session,
        asset_type: str,
        version: Any,
        *,
        expected_digest: str,
        **fields: Unpack[CoreEvidence],
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """:meth:`record_evidence`'s row, checked but not written: its column values and
        its audit subject (:func:`~lmops_core.registry.store.evidence_values`), for a
        caller that writes it with other rows (:func:`store.record_attached` after)."""
        return store.evidence_values(
            s,
            self.audit,
            asset_type=asset_type,
            version=version,
            expected_digest=expected_digest,
            stage=GOVERNANCE_KIND_STAGES[fields["kind"]],
            plugin="lmops-core",
            **fields,
        )


def resolve_version(s: Session, ref: str) -> tuple[str, Any, Any]:
    """``(asset type, asset, version)`` of a reference (a bare name is a model)."""
    parsed = parse_ref(ref)
    typ = parsed.asset_type or "model"
    asset, version = store.resolve(s, parsed, typ)
    return typ, asset, version


def check_target_stage(stage: str, *, field: str = "to") -> GovernedStage:
    """``stage`` as a governed stage, or refused naming ``field``."""
    if stage not in GOVERNED_STAGES:
        raise ValidationError(
            f"unknown target stage {stage!r} (expected one of {', '.join(GOVERNED_STAGES)})",
            field=field,
        )
    return stage


def check_comment(value: str, field: str) -> None:
    """A comment or reason: at most 10,000 characters, no NUL."""
    if "\x00" in value or len(value) > 10_000:
        raise ValidationError(
            f"{field} must be at most 10,000 characters without NUL bytes", field=field
        )


#: Per engine: versions (type, ref, digest, creation time) whose author is known. What
#: is known never changes: it is read from the version's first creation event, and
#: audit events are only ever appended. Only known authors are kept, so a refusal is
#: always read afresh.
_KNOWN_AUTHORS: weakref.WeakKeyDictionary[Engine, set[tuple[Any, ...]]] = (
    weakref.WeakKeyDictionary()
)
_KNOWN_AUTHORS_MAX = 65_536


#: ``require_known_author(..., creation_after=UNREAD)``: the caller did not read the event.
UNREAD: Any = object()


def require_known_author(
    s: Session, asset_type: str, ref: str, version: Any, *, creation_after: Any = UNREAD
) -> None:
    """Separation of duties needs to know who wrote the version, not a name they typed.

    ``creation_after`` is the ``after`` of the version's first creation event (``None``
    when there is none) when the caller read it in this transaction; else it is read."""
    engine = s.connection().engine
    known = _KNOWN_AUTHORS.setdefault(engine, set())
    key = (asset_type, ref, version.digest, version.created_at)
    if key in known:
        return
    method = (
        store.author_identity(s, asset_type, ref)
        if creation_after is UNREAD
        else store.author_method(creation_after)
    )
    if method != "asserted":
        if len(known) >= _KNOWN_AUTHORS_MAX:
            known.clear()
        known.add(key)
        return
    raise PermissionDeniedError(
        f"separation of duties cannot be shown for {ref}: it was registered under the "
        f"name {version.created_by!r} with no credential, so who wrote it is unknown and "
        "no reviewer can be shown independent of its author; register it again with a "
        "credential (LMOPS_TOKEN or LMOPS_SIGNING_KEY)",
        field="ref",
    )


def decision_event(
    req: ApprovalRequest, decision: Decision, actor: str, comment: str | None
) -> DecisionEvent:
    """What observers hear of a decision on ``req``."""
    return DecisionEvent(
        request_id=req.id,
        ref=req.ref,
        target_stage=req.target_stage,
        decision=decision,
        actor=actor,
        comment=comment or "",
        status=req.status,
    )


def close_request(
    s: Session, audit: AuditWriter, req: ApprovalRequest, status: Ending, reason: str, actor: str
) -> DecisionEvent:
    """End a pending request as ``expired`` or ``invalidated``, audited; its event."""
    req.status, req.reason, req.decided_at = status, reason, utcnow()
    s.add(req)
    audit.record(s, f"promotion.{status}", req.ref, after={"request_id": req.id, "reason": reason})
    return decision_event(req, status, actor, reason)


def announce(plugins: PluginHost, events: Sequence[DecisionEvent]) -> None:
    """Tell every ``lmops_after_decision`` observer, after the commit: the one place.

    Each observer is called on its own; one that raises is logged with its
    plugin's name and the rest still hear of the decision, which stands.
    """
    impls = plugins.hook.lmops_after_decision.get_hookimpls()
    for event in events:
        for impl in reversed(impls):  # registration order
            try:
                impl.function(**{k: event for k in impl.argnames if k == "decision"})
            except Exception:  # noqa: BLE001 - observers never undo a committed decision
                logger.exception(
                    "lmops_after_decision observer of plugin %r failed on %s "
                    "of %s (request %s); the decision stands",
                    impl.plugin_name,
                    event.decision,
                    event.ref,
                    event.request_id,
                )


__all__ = [
    "REVALIDATION_REQUIRED",
    "UNREAD",
    "Ending",
    "GovernancePart",
    "announce",
    "check_comment",
    "check_target_stage",
    "close_request",
    "decision_event",
    "require_known_author",
    "resolve_version",
]
