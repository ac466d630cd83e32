"""Promotion requests and decisions: request, review, promote; a request that went stale ends.

``request_promotion`` evaluates the policy at once. Failing hard gates refuse
the request with the reasons; otherwise a pending request is stored with a
frozen snapshot (policy file digests, the version's digest, the evidence
digests, the evaluation). Reviewers approve or reject with a comment; the last
required approval promotes the version in the same transaction. A change to
the version, its evidence or a policy file after the request invalidates it.
"""

from __future__ import annotations

import functools
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, inspect, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from lmops_core.audit.chain import canonical_json
from lmops_core.contracts import DecisionEvent, PromotionContext
from lmops_core.digests import digest_bytes
from lmops_core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PolicyViolationError,
    ValidationError,
)
from lmops_core.governance.access import check_role, require_role
from lmops_core.governance.decision_rows import insert_decision
from lmops_core.governance.decisions import (
    REVALIDATION_REQUIRED,
    Ending,
    GovernancePart,
    announce,
    check_comment,
    check_target_stage,
    close_request,
    decision_event,
    require_known_author,
    resolve_version,
)
from lmops_core.governance.identity import Identity
from lmops_core.governance.models import ApprovalDecision, ApprovalRequest, UserRole
from lmops_core.governance.policy_facts import (
    aware,
    evidence_facts,
    facts_of,
    judged_pair,
    stage_holder,
)
from lmops_core.governance.request_reads import LIKELY_TYPE, request_version_id
from lmops_core.governance.request_reads import REQUESTS as _REQUESTS
from lmops_core.governance.revocation import revoked_at
from lmops_core.governance.schemas import ApprovalRequestPublic, DecisionPublic
from lmops_core.governance.signing import Signer, approval_statement, sign, signer_for
from lmops_core.governance.views import public_fields, request_public, request_subject
from lmops_core.policy import EvidenceFacts, PolicySet
from lmops_core.registry import store
from lmops_core.registry.models import AuditEvent, Evidence, utcnow
from lmops_core.registry.prepared import PreparedSelect
from lmops_core.terms import GovernedStage, UserRoleName

#: The request a decision is about, locked until the decision commits: plain columns (no
#: ORM object unless the decision changes the request, see ``_changing``).
_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
#: With it, the ``after`` of its version's first creation event (``creation_after``; NULL
#: when there is none): separation of duties needs to know how the author was established,
#: and events are only appended, so reading it with the lock costs no round trip of its own.
_LOCKED_REQUEST = PreparedSelect(
    select(
        _REQUESTS,
        select(_EVENTS.c.after)
        .where(
            _EVENTS.c.subject == _REQUESTS.c.ref,
            _EVENTS.c.action == _REQUESTS.c.asset_type + store.CREATION_ACTION_SUFFIX,
        )
        .order_by(_EVENTS.c.seq)
        .limit(1)
        .scalar_subquery()
        .label("creation_after"),
    )
    .where(_REQUESTS.c.id == bindparam("request_id"))
    .with_for_update(of=_REQUESTS)
)
_EVIDENCE = Evidence.__table__  # type: ignore[attr-defined]
#: Every evidence record of the version a request is about, oldest first, found from the
#: request id (subqueries), so that it is read in the same batch as the request.
_REQUEST_EVIDENCE = PreparedSelect(
    select(_EVIDENCE)
    .where(
        _EVIDENCE.c.subject_type
        == select(_REQUESTS.c.asset_type)
        .where(_REQUESTS.c.id == bindparam("request_id"))
        .scalar_subquery(),
        _EVIDENCE.c.subject_id
        == select(_REQUESTS.c.version_id)
        .where(_REQUESTS.c.id == bindparam("request_id"))
        .scalar_subquery(),
    )
    .order_by(_EVIDENCE.c.id)
)
#: Labels of the version's and the asset's columns in :func:`_subject_read`'s row.
_VERSION_PREFIX, _ASSET_PREFIX = "v_", "a_"


@functools.cache
def _subject_read(asset_type: str) -> PreparedSelect:
    """The version of ``asset_type`` a request is about, with its asset, found from the
    request id (a subquery): one row of columns labelled ``v_<key>`` and ``a_<key>``,
    none when the request is about another asset type."""
    asset_cls, version_cls, fk = store.asset_classes(asset_type)
    assets, versions = asset_cls.__table__, version_cls.__table__
    return PreparedSelect(
        select(
            *(c.label(_VERSION_PREFIX + c.key) for c in versions.c),
            *(c.label(_ASSET_PREFIX + c.key) for c in assets.c),
        )
        .join(assets, assets.c.id == versions.c[fk])
        .where(versions.c.id == request_version_id(asset_type, "request_id"))
    )


def _subject(s: Session, req: Any, likely: list[Any]) -> tuple[Any, Any]:
    """The asset and the version ``req`` is about, as objects of ``s``: built from the row
    ``likely`` holds (:func:`_subject_read` of :data:`LIKELY_TYPE`, read in this
    transaction) without reading them again, else read (another asset type)."""
    if req.asset_type != LIKELY_TYPE or not likely:
        return request_subject(s, req)
    asset_cls, version_cls, _ = store.asset_classes(req.asset_type)
    row = likely[0]
    made = []
    for cls, prefix in ((asset_cls, _ASSET_PREFIX), (version_cls, _VERSION_PREFIX)):
        # Made as a query loads a row (the model's __init__, which validates, costs as much
        # as the read it replaces), then as if loaded: s.add issues no INSERT and no read.
        obj = inspect(cls).class_manager.new_instance()
        for c in cls.__table__.c:
            set_committed_value(obj, c.key, row[prefix + c.key])
        make_transient_to_detached(obj)
        s.add(obj)
        made.append(obj)
    asset, version = made
    return asset, version


#: The decisions on a request, oldest first, each with whether it counts now: its
#: reviewer still holds the role used. One read serves the once-per-reviewer rule, the
#: count of approvals and the request's public view. (Statements every decision runs
#: are built once: building one costs more than running it.)
_DECISIONS_COUNTED = PreparedSelect(
    select(
        *ApprovalDecision.__table__.columns,  # type: ignore[attr-defined]
        col(UserRole.id).is_not(None).label("counts"),
    )
    .outerjoin(
        UserRole,
        (col(UserRole.user) == ApprovalDecision.actor)
        & (col(UserRole.role) == ApprovalDecision.role),
    )
    .where(col(ApprovalDecision.request_id) == bindparam("request_id"))
    .order_by(col(ApprovalDecision.id))
)
#: Stages only some asset types can enter (others: any type may request them).
STAGE_ASSET_TYPES = {"approved-for-training": ("dataset",), "approved-for-use": ("suite",)}
DEFAULT_TTL = timedelta(days=7)


class Promotions(GovernancePart):
    """Promotion requests and the decisions on them, as one identity."""

    def request_promotion(self, ref: str, *, to: GovernedStage) -> ApprovalRequestPublic:
        """Ask to promote ``ref`` into stage ``to``; refused at once if hard gates fail."""
        check_target_stage(to)
        with self.db.write() as s:
            actor = self.access.acting(s, f"request promotion of {ref} to {to}").user
            typ, asset, version = resolve_version(s, ref)
            canonical = store.version_ref(typ, asset.name, version.version)
            _check_stage_asset(typ, to, canonical)
            if version.stage == to:
                raise ConflictError(f"{canonical} is already in {to}")
            self._expire_lapsed(s, typ, version.id, to)
            open_request = (
                s.execute(
                    select(col(ApprovalRequest.id)).where(
                        col(ApprovalRequest.asset_type) == typ,
                        col(ApprovalRequest.version_id) == version.id,
                        col(ApprovalRequest.target_stage) == to,
                        col(ApprovalRequest.status) == "pending",
                        col(ApprovalRequest.expires_at) > utcnow(),
                    )
                )
                .scalars()
                .first()
            )
            if open_request is not None:
                raise ConflictError(
                    f"{canonical} already has a pending request to {to}: {open_request}"
                )
            require_role(s, actor, {"submitter", "admin"}, f"request promotion of {canonical}")
            if version.status == REVALIDATION_REQUIRED:
                raise PolicyViolationError(
                    f"{canonical} is {REVALIDATION_REQUIRED} (revoked or breached monitoring): it "
                    f"cannot enter {to} until a validator revalidates it on new evidence "
                    f"(`lmops revalidate {canonical}`)",
                    field="ref",
                )
            evaluation = self.policy_source.judge_transition(s, typ, asset, version, to, actor)
            if not evaluation.allowed:
                reasons = [
                    f"{o.rule}/{o.condition or o.check}: {o.status}: {o.message}"
                    for o in evaluation.blocking
                ]
                self.audit.record(
                    s, "promotion.refused", canonical, after={"to": to, "reasons": reasons}
                )
                refused = PolicyViolationError(
                    f"promotion of {canonical} to {to} refused by policy:\n  - "
                    + "\n  - ".join(reasons),
                    evaluation=evaluation.model_dump(mode="json"),
                )
                # Commit the refusal's audit event, then raise.
                s.commit()
                raise refused
            evidence_digests = sorted(f.digest for f in evidence_facts(s, typ, version) if f.digest)
            ttl = evaluation.request_ttl or DEFAULT_TTL
            snapshot = {
                "ref": canonical,
                "to": to,
                "version_digest": version.digest,
                "policy_digests": evaluation.policy_digests,
                "evidence_digests": evidence_digests,
                "evaluation": evaluation.model_dump(mode="json"),
            }
            now = utcnow()
            req = ApprovalRequest(
                id=uuid.uuid4().hex,
                asset_type=typ,
                version_id=version.id,
                ref=canonical,
                target_stage=to,
                requested_by=actor,
                status="pending",
                created_at=now,
                expires_at=now + ttl,
                version_digest=version.digest,
                policy_digests=evaluation.policy_digests,
                evidence_digests=evidence_digests,
                evaluation=snapshot["evaluation"],
                required_approvals=dict(evaluation.required_approvals),
                separation_of_duties=evaluation.separation_of_duties,
                snapshot_digest=digest_bytes(canonical_json(snapshot).encode()),
            )
            s.add(req)
            try:
                s.flush()
            except sa_exc.IntegrityError:
                # uq_approval_pending: a concurrent request for the same version and
                # stage committed between the check above and this insert.
                raise ConflictError(
                    f"{canonical} already has a pending request to {to} (made concurrently)"
                ) from None
            self.audit.record(
                s,
                "promotion.request",
                canonical,
                after={"request_id": req.id, "to": to, "snapshot_digest": req.snapshot_digest},
            )
            self.record_evidence(
                s,
                typ,
                version,
                kind="promotion_request",
                metrics={"to": to, "request_id": req.id},
                details=snapshot,
            )
            events: list[DecisionEvent] = []
            if not req.required_approvals:
                events.append(self._promote(s, req, typ, asset, version, actor, Counter()))
            public = request_public(s, req, [])
        announce(self.plugins, events)
        return public

    def _expire_lapsed(self, s: Session, typ: str, version_id: int, to: GovernedStage) -> None:
        # A pending request past its expiry no longer blocks a new one, but it still
        # occupies uq_approval_pending until it is marked expired.
        for req in (
            s.execute(
                select(ApprovalRequest).where(
                    col(ApprovalRequest.asset_type) == typ,
                    col(ApprovalRequest.version_id) == version_id,
                    col(ApprovalRequest.target_stage) == to,
                    col(ApprovalRequest.status) == "pending",
                    col(ApprovalRequest.expires_at) <= utcnow(),
                )
            )
            .scalars()
            .all()
        ):
            req.status, req.decided_at, req.reason = "expired", utcnow(), "request expired"
            s.add(req)
            self.audit.record(s, "promotion.expired", req.ref, after={"request_id": req.id})
        s.flush()

    def decide(
        self, request_id: str, *, approve: bool, role: UserRoleName, comment: str
    ) -> ApprovalRequestPublic:
        """Approve or reject a pending request as ``role``, with a mandatory comment."""
        if not comment or not comment.strip():
            raise ValidationError("a decision needs a comment saying why", field="comment")
        check_comment(comment, "comment")
        invalid: ConflictError | None = None
        events: list[DecisionEvent] = []
        # The policy files are read before the write transaction (they are files, not rows:
        # holding the writer while they are parsed protects nothing); what they say is judged
        # inside it, on the rows it reads. A file that does not load invalidates (fail closed).
        policies: PolicySet | Exception
        try:
            policies = self.policy_source.policies()
        except Exception as exc:  # noqa: BLE001 - judged in _staleness
            policies = exc
        # Whose key signs is known before the transaction (the identity acting, verified in
        # it): its key files are read here, not while the writer is held.
        signer = signer_for(self.identity, self.home)
        with self.db.write() as s:
            verb = "approve" if approve else "reject"
            # The request (locked), its decisions, its version's evidence and (for a model)
            # the version and its asset, in one batch with the caller's token (on
            # PostgreSQL one round trip). The evidence is read once: the staleness check
            # compares it (and looks for a revocation), the re-check judges it.
            by_id = {"request_id": request_id}
            who, held, (found, decided_so_far, records, likely) = self.access.acting_reading(
                s,
                f"{verb} request {request_id}",
                [
                    (_LOCKED_REQUEST, by_id),
                    (_DECISIONS_COUNTED, by_id),
                    (_REQUEST_EVIDENCE, by_id),
                    (_subject_read(LIKELY_TYPE), by_id),
                ],
            )
            actor = who.user
            if not found:
                raise NotFoundError(f"approval request {request_id!r} does not exist")
            req: Any = found[0]
            if req.status != "pending":
                raise ConflictError(f"request {request_id} is {req.status}, not pending")
            typ, (asset, version) = req.asset_type, _subject(s, req, likely)
            decisions: list[Any] = list(decided_so_far)
            facts = facts_of(s, records)
            problem = self._staleness(req, version, facts, revoked_at(records), policies)
            if problem is None and approve and isinstance(policies, PolicySet):
                problem = self._recheck(s, req, asset, version, facts, policies)
            if problem is not None:
                status, reason = problem
                req = _changing(s, req)
                events.append(close_request(s, self.audit, req, status, reason, actor))
                invalid = ConflictError(f"request {request_id} is {status}: {reason}")
            else:
                decided = self._record_decision(
                    s, req, version, (who, held), role, approve, comment, decisions, signer
                )
                events.append(
                    decision_event(req, "approved" if approve else "rejected", actor, comment)
                )
                # Approvals that count now: from reviewers who still hold the role they used
                # (this reviewer's role was checked as the decision was recorded).
                counted = Counter(d.role for d in decisions if d.counts and d.decision == "approve")
                if approve:
                    counted[role] += 1
                if approve and _complete(req, counted):
                    req = _changing(s, req)
                    events.append(self._promote(s, req, typ, asset, version, actor, counted))
                elif not approve:
                    req = _changing(s, req)
                    req.status, req.decided_at, req.reason = "rejected", utcnow(), comment
                    s.add(req)
                    self.audit.record(
                        s, "promotion.rejected", req.ref, after={"request_id": req.id, "by": actor}
                    )
                    events[-1] = decision_event(req, "rejected", actor, comment)
                decisions.append(decided)
            # Shown from what this transaction read and wrote: nothing is read back.
            public = ApprovalRequestPublic(**public_fields(req, decisions))
        announce(self.plugins, events)
        if invalid is not None:
            raise invalid
        return public

    def _staleness(
        self,
        req: ApprovalRequest,
        version: Any,
        facts: list[EvidenceFacts],
        last_revoked: datetime | None,
        policies: PolicySet | Exception,
    ) -> tuple[Ending, str] | None:
        if utcnow() > aware(req.expires_at):
            return "expired", f"it expired at {aware(req.expires_at).isoformat()}"
        if version.digest != req.version_digest:
            return "invalidated", "the version's content changed after the request"
        if version.status == REVALIDATION_REQUIRED:
            return "invalidated", (
                f"{req.ref} is {REVALIDATION_REQUIRED} (revoked or breached "
                "monitoring) and must be revalidated first"
            )
        if last_revoked is not None and last_revoked >= aware(req.created_at):
            return "invalidated", (
                f"{req.ref} was revoked at {last_revoked.isoformat()}, after the request was made"
            )
        current = sorted(f.digest for f in facts if f.digest)
        if current != sorted(req.evidence_digests):
            return "invalidated", "the version's evidence changed after the request"
        if isinstance(policies, Exception):  # a broken policy file also invalidates
            return "invalidated", f"the policy files no longer load: {policies}"
        digests = policies.digests
        for file, digest in req.policy_digests.items():
            if digests.get(file) != digest:
                return "invalidated", f"policy file {file} changed after the request"
        return None

    def _record_decision(
        self,
        s: Session,
        req: Any,
        version: Any,
        acting: tuple[Identity, frozenset[str]],
        role: UserRoleName,
        approve: bool,
        comment: str,
        decisions: list[Any],
        signer: Signer,
    ) -> DecisionPublic:
        """Check that ``who`` (``acting``: the identity and the roles it holds, read in this
        transaction) may decide ``req`` (the locked row, see ``_LOCKED_REQUEST``) as ``role`` (``decisions``: those made so far), then
        store the decision signed by ``signer`` (``who``'s), its audit event and its
        evidence; the decision."""
        who, held = acting
        actor = who.user
        reviewer_roles = set(req.required_approvals) or {"validator", "risk_officer", "admin"}
        if role not in reviewer_roles:
            raise PermissionDeniedError(
                f"role {role!r} does not review this request (needs: "
                f"{', '.join(sorted(reviewer_roles))})"
            )
        check_role(held, actor, {role}, f"decide request {req.id} as {role}")
        if req.separation_of_duties:
            if actor == req.requested_by:
                raise PermissionDeniedError(
                    f"{actor!r} requested this promotion and cannot "
                    "also decide it (separation of duties)"
                )
            if actor == version.created_by:
                raise PermissionDeniedError(
                    f"{actor!r} authored {req.ref} and cannot decide "
                    "its promotion (separation of duties)"
                )
            require_known_author(
                s, req.asset_type, req.ref, version, creation_after=req.creation_after
            )
        if any(d.actor == actor for d in decisions):
            raise ConflictError(
                f"{actor!r} already decided request {req.id} (each reviewer decides once)"
            )
        if req.evaluation.get("require_personal_signature") and who.method != "personal-key":
            raise PermissionDeniedError(
                f"the policy governing request {req.id} requires a personal signature "
                "(require_personal_signature): decide with your registered personal signing "
                f"key (LMOPS_SIGNING_KEY); a decision by {who.describe()} does not count"
            )
        decision = "approve" if approve else "reject"
        now = utcnow()
        signed = sign(
            approval_statement(
                req=req, identity=who, decision=decision, role=role, comment=comment, at=now
            ),
            signer,
        )
        # Who decided, why and how they signed: stored on the decision, repeated as evidence.
        sign_off: dict[str, Any] = {
            "actor": actor,
            "comment": comment,
            "auth_method": who.method,
            **signed.to_json(),
        }
        evidence, subject = self.evidence_values(
            s,
            req.asset_type,
            version,
            expected_digest=req.version_digest,
            kind="approval",
            metrics={"decision": decision, "role": role, "request_id": req.id},
            details=sign_off,
        )
        # Both rows first (on PostgreSQL in one statement, which takes the audit head),
        # then their two audit events, sent with the commit.
        evidence_id = insert_decision(
            s,
            self.audit,
            {
                "request_id": req.id,
                "role": role,
                "decision": decision,
                "created_at": now,
                **sign_off,
            },
            evidence,
        )
        self.audit.record(
            s,
            "approval.approve" if approve else "approval.reject",
            req.ref,
            after={"request_id": req.id, "role": role, "comment": comment},
        )
        store.record_attached(s, self.audit, evidence_id, evidence, subject)
        return DecisionPublic(role=role, decision=decision, created_at=now, **sign_off)

    def _recheck(
        self,
        s: Session,
        req: ApprovalRequest,
        asset: Any,
        version: Any,
        facts: list[EvidenceFacts],
        policies: PolicySet,
    ) -> tuple[Ending, str] | None:
        """Judge the request again under the policy as it stands at the moment of the decision.

        The snapshot froze the evaluation when the request was made; evidence
        ages (``max_age``), the version in production changes, plugin checks
        change their answer. A request whose evaluation no longer passes, or
        that now needs other sign-offs, is invalidated.
        """
        try:
            target = check_target_stage(req.target_stage, field="target_stage")
            # A prompt is judged only on what was measured with its model: read that anew.
            judged = facts if judged_pair(req.asset_type, version) == store.ANY_PAIR else None
            evaluation = self.policy_source.judge_transition(
                s,
                req.asset_type,
                asset,
                version,
                target,
                req.requested_by,
                evidence=judged,
                policies=policies,
            )
        except Exception as exc:  # noqa: BLE001 - fail closed: what cannot be judged is refused
            return "invalidated", f"the policy could not be evaluated again: {exc}"
        if not evaluation.allowed:
            reasons = "; ".join(
                f"{o.rule}/{o.condition or o.check}: {o.status}: {o.message}"
                for o in evaluation.blocking
            )
            return "invalidated", f"the policy no longer allows it: {reasons}"
        if (
            dict(evaluation.required_approvals) != dict(req.required_approvals)
            or evaluation.separation_of_duties != req.separation_of_duties
        ):
            return "invalidated", (
                f"the policy now asks for other sign-offs ({dict(evaluation.required_approvals)})"
            )
        return None

    def _promote(  # noqa: PLR0913 - the request, its subject, who acts and what counted
        self,
        s: Session,
        req: ApprovalRequest,
        typ: str,
        asset: Any,
        version: Any,
        actor: str,
        approvals: Counter[str],
    ) -> DecisionEvent:
        """Move the version into the stage unless a plugin vetoes; the event of the outcome.
        ``approvals``: the roles of the approvals that count, by number."""
        evidence = {f.kind: dict(f.metrics) for f in evidence_facts(s, typ, version)}
        context = PromotionContext(
            request_id=req.id,
            asset_type=typ,  # type: ignore[arg-type]
            ref=req.ref,
            version_digest=version.digest,
            target_stage=req.target_stage,
            requested_by=req.requested_by,
            evidence=evidence,
        )
        vetoes = [v for v in self.plugins.hook.lmops_before_promotion(promotion=context) if v]
        if vetoes:
            req.status, req.decided_at = "rejected", utcnow()
            req.reason = "vetoed by a plugin: " + "; ".join(vetoes)
            s.add(req)
            self.audit.record(
                s, "promotion.vetoed", req.ref, after={"request_id": req.id, "vetoes": vetoes}
            )
            return decision_event(req, "vetoed", actor, req.reason)
        previous = stage_holder(
            s, typ, asset, check_target_stage(req.target_stage, field="target_stage")
        )
        if previous is not None:
            previous.stage = None
            s.add(previous)
            s.flush()  # leave the stage before the new holder enters it (uq_*_stage)
            self.audit.record(
                s,
                "stage.leave",
                store.ref_of(s, typ, previous),
                before={"stage": req.target_stage},
                after={"stage": None},
            )
        version.stage = req.target_stage
        s.add(version)
        req.status, req.decided_at = "approved", utcnow()
        s.add(req)
        s.flush()
        self.audit.record(
            s,
            "promotion.complete",
            req.ref,
            before={"stage": None},
            after={"stage": req.target_stage, "request_id": req.id},
        )
        self.record_evidence(
            s,
            typ,
            version,
            kind="promotion",
            metrics={"stage": req.target_stage, "request_id": req.id},
            details={
                "approvals": dict(approvals),
                "policy_digests": req.policy_digests,
            },
        )
        return decision_event(req, "promoted", actor, "")

    def expire_due(self) -> int:
        """Mark pending requests past their expiry as expired; returns how many."""
        with self.db.write() as s:
            due = (
                s.execute(
                    select(ApprovalRequest)
                    .where(
                        col(ApprovalRequest.status) == "pending",
                        col(ApprovalRequest.expires_at) < utcnow(),
                    )
                    .with_for_update()
                )
                .scalars()
                .all()
            )
            events = [
                close_request(s, self.audit, req, "expired", "request expired", self.identity.user)
                for req in due
            ]
        announce(self.plugins, events)
        return len(events)


def _changing(s: Session, row: Any) -> ApprovalRequest:
    """The request read as the plain row ``row``, as an object of ``s`` whose changes are
    written at the next flush (no second read: the row is the locked one just read)."""
    req = ApprovalRequest(**{column.key: getattr(row, column.key) for column in _REQUESTS.c})
    make_transient_to_detached(req)
    s.add(req)
    return req


def _complete(req: Any, approvals: Counter[str]) -> bool:
    """Do ``approvals`` (roles by number) meet every approval ``req`` requires?"""
    return all(approvals[role] >= n for role, n in req.required_approvals.items())


def _check_stage_asset(asset_type: str, stage: GovernedStage, ref: str) -> None:
    allowed = STAGE_ASSET_TYPES.get(stage)
    if allowed is not None and asset_type not in allowed:
        raise ValidationError(
            f"{ref}: only {', '.join(allowed)} versions can enter {stage}", field="to"
        )
    if asset_type == "suite" and stage != "approved-for-use":
        raise ValidationError(f"{ref}: a suite version can only enter approved-for-use", field="to")


__all__ = ["DEFAULT_TTL", "STAGE_ASSET_TYPES", "Promotions"]
