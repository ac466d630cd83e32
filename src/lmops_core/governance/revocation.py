"""Taking a version out of its stage, and letting it back: revocation, breach, revalidation.

A revocation (by a person) or a monitoring breach (by the policy) marks the
version ``revalidation-required``, may take it out of its stage, and
invalidates its pending requests in the same transaction. Only a validator's
explicit revalidation, on evidence newer than the revocation, clears the mark.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlmodel import Session, col

from lmops_core.contracts import DecisionEvent
from lmops_core.errors import (
    ConflictError,
    PermissionDeniedError,
    PolicyViolationError,
    ValidationError,
)
from lmops_core.governance.access import require_role
from lmops_core.governance.decisions import (
    REVALIDATION_REQUIRED,
    GovernancePart,
    announce,
    check_comment,
    close_request,
    require_known_author,
    resolve_version,
)
from lmops_core.governance.models import ApprovalRequest
from lmops_core.governance.policy_facts import aware
from lmops_core.policy import PolicyEvaluation
from lmops_core.registry import store
from lmops_core.registry.models import Evidence
from lmops_core.terms import GovernedStage, UserRoleName
from lmops_core.vocabulary import GOVERNED_STAGES

#: Roles that may revalidate a version (an explicit decision, see ``Revocations.revalidate``).
REVALIDATOR_ROLES: frozenset[UserRoleName] = frozenset({"validator"})


#: Built once: every decision asks it, and building a statement costs more than running it.
_LAST_REVOCATION = select(func.max(Evidence.created_at)).where(
    col(Evidence.subject_type) == bindparam("typ"),
    col(Evidence.subject_id) == bindparam("vid"),
    col(Evidence.kind) == "revocation",
)


def last_revocation(s: Session, typ: str, version: Any) -> datetime | None:
    """When the version was last revoked or marked revalidation-required (None: never)."""
    last = s.execute(_LAST_REVOCATION, {"typ": typ, "vid": version.id}).scalar_one_or_none()
    return aware(last) if last is not None else None


def revoked_at(records: Sequence[Any]) -> datetime | None:
    """:func:`last_revocation` of a version whose evidence ``records`` (all of them) the
    caller has read."""
    times = [e.created_at for e in records if e.kind == "revocation"]
    return aware(max(times)) if times else None


class Revocations(GovernancePart):
    """Revocation, monitoring breaches and revalidation, as one identity."""

    def revoke(self, ref: str, *, stage: GovernedStage, reason: str) -> None:
        """Take a version out of a stage (monitoring breach, incident); audited."""
        if not reason.strip():
            raise ValidationError("a revocation needs a reason", field="reason")
        check_comment(reason, "reason")
        with self.db.write() as s:
            self.access.acting(s, f"revoke {ref} from {stage}")
            typ, asset, version = resolve_version(s, ref)
            canonical = store.version_ref(typ, asset.name, version.version)
            if version.stage != stage:
                raise ConflictError(f"{canonical} is not in {stage}")
            require_role(
                s, self.identity.user, {"risk_officer", "validator", "admin"}, f"revoke {canonical}"
            )
            events = self._withdraw(
                s, typ, version, canonical, stage=stage, reason=reason, by_policy=False
            )
        announce(self.plugins, events)

    def monitoring_verdict(
        self, s: Session, typ: str, asset: Any, version: Any
    ) -> PolicyEvaluation:
        """The monitoring rules (``event: monitoring``) judged on ``version`` in its stage now."""
        return self.policy_source.judge_monitoring(s, typ, asset, version, self.identity.user)

    def apply_breach(self, ref: str, *, action: str) -> list[str]:
        """Take ``action`` (``revalidation-required`` or ``revoke``) because the policy says so.

        Nobody's word is taken for the breach: the monitoring rules are judged
        again, in the same transaction that acts, and the action is refused
        (``PolicyViolationError``) unless they fail now and their ``on_breach``
        lists it. That is why no role is needed: whoever calls this can only
        make the policy do what it already demands. Returns the reasons.
        """
        if action not in ("revalidation-required", "revoke"):
            raise ValidationError(
                f"unknown breach action {action!r}: expected revalidation-required or revoke",
                field="action",
            )
        with self.db.write() as s:
            typ, asset, version = resolve_version(s, ref)
            canonical = store.version_ref(typ, asset.name, version.version)
            stage = version.stage
            if stage is None:
                raise ConflictError(f"{canonical} is in no stage: there is nothing to monitor")
            verdict = self.monitoring_verdict(s, typ, asset, version)
            if verdict.allowed:
                raise PolicyViolationError(
                    f"the monitoring rules for {canonical} in {stage} hold: no breach to act on"
                )
            if action not in verdict.breach_actions:
                raise PolicyViolationError(
                    f"the monitoring rules for {canonical} in {stage} do not ask for "
                    f"{action!r} on a breach (on_breach: {', '.join(verdict.breach_actions)})"
                )
            reasons = [
                f"{o.rule}/{o.condition or o.check}: {o.status}: {o.message}"
                for o in verdict.blocking
            ]
            reason = "monitoring breach: " + "; ".join(reasons)
            leave = stage if action == "revoke" else None
            if leave is None and version.status == REVALIDATION_REQUIRED:
                return reasons  # already marked (an earlier action of the same breach)
            events = self._withdraw(
                s, typ, version, canonical, stage=leave, reason=reason, by_policy=True
            )
        announce(self.plugins, events)
        return reasons

    def _withdraw(
        self,
        s: Session,
        typ: str,
        version: Any,
        canonical: str,
        *,
        stage: GovernedStage | None,
        reason: str,
        by_policy: bool,
    ) -> list[DecisionEvent]:
        """Mark the version revalidation-required, leave ``stage`` if given, end its requests.

        Every pending request of the version is invalidated in the same
        transaction: a request opened before a revocation never promotes it.
        """
        before = {"stage": version.stage, "status": version.status}
        if stage is not None:
            version.stage = None
        version.status = REVALIDATION_REQUIRED
        s.add(version)
        s.flush()
        after = {"stage": version.stage, "status": version.status, "reason": reason}
        if by_policy:
            after["by_policy"] = True
        action = "promotion.revoked" if stage is not None else "monitoring.revalidation_required"
        self.audit.record(s, action, canonical, before=before, after=after)
        self.record_evidence(
            s,
            typ,
            version,
            kind="revocation",
            metrics={
                "stage": stage or "",
                "by_policy": by_policy,
                "action": "revoke" if stage else REVALIDATION_REQUIRED,
            },
            details={"reason": reason},
        )
        events = []
        if stage is not None:
            events.append(
                DecisionEvent(
                    request_id=None,
                    ref=canonical,
                    target_stage=stage,
                    decision="revoked",
                    actor=self.identity.user,
                    comment=reason,
                    status=REVALIDATION_REQUIRED,
                )
            )
        pending = (
            s.execute(
                select(ApprovalRequest)
                .where(
                    col(ApprovalRequest.asset_type) == typ,
                    col(ApprovalRequest.version_id) == version.id,
                    col(ApprovalRequest.status) == "pending",
                )
                .with_for_update()
            )
            .scalars()
            .all()
        )
        for req in pending:
            events.append(
                close_request(
                    s,
                    self.audit,
                    req,
                    "invalidated",
                    f"{canonical} was revoked: {reason}",
                    self.identity.user,
                )
            )
        return events

    def revalidate(self, ref: str, *, comment: str) -> None:
        """Clear ``revalidation-required``: a validator's explicit, audited decision.

        Accepted only when the version has, for every evidence kind that a
        policy requires for any governed stage of this version, evidence of
        that kind recorded after its last revocation: old evidence never puts
        a revoked version back. The validator may not be the version's author.
        Promotion afterwards still needs a new request and its approvals.
        """
        if not comment or not comment.strip():
            raise ValidationError("a revalidation needs a comment saying why", field="comment")
        check_comment(comment, "comment")
        with self.db.write() as s:
            actor = self.access.acting(s, f"revalidate {ref}").user  # a decision: a credential
            typ, asset, version = resolve_version(s, ref)
            canonical = store.version_ref(typ, asset.name, version.version)
            require_role(s, actor, set(REVALIDATOR_ROLES), f"revalidate {canonical}")
            if version.status != REVALIDATION_REQUIRED:
                raise ConflictError(
                    f"{canonical} is {version.status}, not "
                    f"{REVALIDATION_REQUIRED}: there is nothing to revalidate"
                )
            if actor == version.created_by:
                raise PermissionDeniedError(
                    f"{actor!r} authored {canonical} and cannot "
                    "revalidate it (separation of duties)"
                )
            require_known_author(s, typ, canonical, version)
            since = last_revocation(s, typ, version) or aware(version.created_at)
            stale = self._kinds_without_new_evidence(s, typ, asset, version, since)
            if stale:
                raise PolicyViolationError(
                    f"{canonical} cannot be revalidated: no evidence recorded after its "
                    f"revocation at {since.isoformat()} for kind(s) {', '.join(stale)}; "
                    "record new evidence for each first",
                    field="ref",
                )
            version.status = "active"
            s.add(version)
            s.flush()
            self.audit.record(
                s,
                "promotion.revalidated",
                canonical,
                before={"status": REVALIDATION_REQUIRED},
                after={"status": "active", "comment": comment},
            )
            self.record_evidence(
                s,
                typ,
                version,
                kind="revalidation",
                metrics={"since": since.isoformat()},
                details={"actor": actor, "comment": comment},
            )
        announce(
            self.plugins,
            [
                DecisionEvent(
                    request_id=None,
                    ref=canonical,
                    target_stage="",
                    decision="revalidated",
                    actor=actor,
                    comment=comment,
                    status="active",
                )
            ],
        )

    def _kinds_without_new_evidence(
        self, s: Session, typ: str, asset: Any, version: Any, since: datetime
    ) -> list[str]:
        tier = getattr(asset, "risk_tier", "standard")
        policies = self.policy_source.policies()
        required = {
            req.kind
            for stage in GOVERNED_STAGES
            for matched in policies.select(typ, tier, stage)
            for req in matched.rule.evidence
        }
        fresh = {
            e.kind for e in store.list_evidence(s, typ, version.id) if aware(e.created_at) > since
        }
        return sorted(required - fresh)


__all__ = ["REVALIDATOR_ROLES", "Revocations", "last_revocation", "revoked_at"]
