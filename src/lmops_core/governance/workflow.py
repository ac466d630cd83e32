"""The model-risk approval workflow: the only way a version enters a governed stage.

``request_promotion`` evaluates the policy at once. Failing hard gates refuse
the request with the reasons; otherwise a pending request is stored with a
frozen snapshot (policy file digests, the version's digest, the evidence
digests, the evaluation). Reviewers approve or reject with a comment; the last
required approval promotes the version in the same transaction. A change to
the version, its evidence or a policy file after the request invalidates it.
The SDK, the CLI and the admin API all call this module; nothing else sets a
stage.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select
from sqlmodel import Session, col

from lmops_core.audit.chain import canonical_json
from lmops_core.contracts import Decision, DecisionEvent, PromotionContext
from lmops_core.digests import digest_bytes
from lmops_core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    PolicyViolationError,
    ValidationError,
)
from lmops_core.governance.access import Access, require_role
from lmops_core.governance.identity import Identity
from lmops_core.governance.models import ApprovalDecision, ApprovalRequest, UserRole
from lmops_core.governance.policy_facts import (
    PolicySource,
    aware,
    evidence_facts,
    stage_holder,
)
from lmops_core.governance.schemas import (
    ApprovalRequestDetail,
    ApprovalRequestPublic,
    Page,
    Principal,
)
from lmops_core.governance.signing import approval_statement, sign, signer_for
from lmops_core.governance.views import RequestViews, request_public, request_subject
from lmops_core.plugins import PluginHost
from lmops_core.policy import PolicyEvaluation, PolicySet
from lmops_core.registry import store
from lmops_core.registry.db import Database
from lmops_core.registry.models import utcnow
from lmops_core.registry.store import AuditWriter
from lmops_core.terms import GovernedStage, UserRoleName
from lmops_core.validation import checked_public
from lmops_core.vocabulary import GOVERNED_STAGES as GOVERNED_STAGES

#: The policy transition whose rules say who may register pickle-based model files.
PICKLE_TRANSITION = "allow-pickle"
#: Stages only some asset types can enter (others: any type may request them).
STAGE_ASSET_TYPES = {"approved-for-training": ("dataset",), "approved-for-use": ("suite",)}
#: A version with this status enters no stage until it is revalidated.
REVALIDATION_REQUIRED = "revalidation-required"
#: Roles that may revalidate a version (an explicit decision, see ``Governance.revalidate``).
REVALIDATOR_ROLES = frozenset({"validator"})

logger = logging.getLogger("lmops.governance")
DEFAULT_TTL = timedelta(days=7)
#: How a pending request ends without a decision: it lapsed, or what it judged changed.
_Ending = Literal["expired", "invalidated"]


@checked_public  # every argument checked before it nears the database (lmops_core.validation)
class Governance:
    """Policies, roles, tokens and promotion requests of one store, as one identity.

    It takes what it uses: the database, the identity acting and its audit
    writer, the policy source, the plugin host (for the promotion and decision
    hooks) and the home folder (for the server's signing key). Roles and tokens
    (:class:`~lmops_core.governance.access.Access`) and reading requests
    (:class:`~lmops_core.governance.views.RequestViews`) are its parts; their
    methods are offered here too, as the SDK always did.
    """

    def __init__(self, *, db: Database, identity: Identity, audit: AuditWriter,
                 policy_source: PolicySource, plugins: PluginHost, home: Path) -> None:
        self.db = db
        self.identity = identity
        self.audit = audit
        self.policy_source = policy_source
        self.plugins = plugins
        self.home = home
        self.access = Access(db=db, identity=identity, audit=audit)
        self.views = RequestViews(db=db)

    # -- policies ---------------------------------------------------------------

    @property
    def policies_dir(self) -> Path:
        """The folder the policy files are read from."""
        return self.policy_source.policies_dir

    def policies(self) -> PolicySet:
        """Load every policy file; a broken file raises and so blocks (fail closed)."""
        return self.policy_source.policies()

    def evidence_metrics(self) -> dict[str, dict[str, str]]:
        """The metrics each registered evidence kind declares (for rule checks)."""
        return self.policy_source.evidence_metrics()

    def explain(self, ref: str, *, to: str) -> PolicyEvaluation:
        """Dry run: how the policy judges promoting ``ref`` to ``to`` right now."""
        _check_stage(to)
        with self.db.read() as s:
            parsed_type, asset, version = self._resolve(s, ref)
            return self.policy_source.judge_transition(s, parsed_type, asset, version, to, self.identity.user)

    def _resolve(self, s: Session, ref: str) -> tuple[str, Any, Any]:
        from lmops_core.registry.names import parse_ref

        parsed = parse_ref(ref)
        typ = parsed.asset_type or "model"
        asset, version = store.resolve(s, parsed, typ)
        return typ, asset, version

    # -- roles and tokens (lmops_core.governance.access) ------------------------------

    def roles_of(self, user: str) -> frozenset[UserRoleName]:
        """The user roles ``user`` holds now."""
        return self.access.roles_of(user)

    def bootstrap_admin(self, user: str, *, description: str = "bootstrap") -> str:
        """Make ``user`` the first admin of a store that has none; returns their first token."""
        return self.access.bootstrap_admin(user, description=description)

    def grant_role(self, user: str, role: UserRoleName) -> None:
        """Give ``user`` a role (an admin acting with a credential)."""
        self.access.grant_role(user, role)

    def revoke_role(self, user: str, role: UserRoleName) -> None:
        """Take a role from ``user`` (an admin acting with a credential)."""
        self.access.revoke_role(user, role)

    def create_token(self, user: str, *, role: UserRoleName | None = None,
                     description: str = "") -> str:
        """Create a bearer token for ``user`` (granting ``role`` first); returns the token once."""
        return self.access.create_token(user, role=role, description=description)

    def revoke_token(self, token_id: str) -> None:
        """Revoke a token: its owner may, and an admin may revoke anyone's."""
        self.access.revoke_token(token_id)

    def list_tokens(self) -> list[dict[str, Any]]:
        """Every token (never its secret), oldest first."""
        return self.access.list_tokens()

    def authenticate(self, token: str) -> Principal:
        """The principal a bearer token stands for, or ``AuthenticationError``."""
        return self.access.authenticate(token)

    # -- reading requests (lmops_core.governance.views) --------------------------------

    def list_requests(self, *, status: str | None = None, asset_type: str | None = None,
                      target_stage: GovernedStage | None = None, limit: int = 50,
                      offset: int = 0) -> Page:
        """A page of requests, newest first, filtered by status, asset type and stage."""
        return self.views.list_requests(status=status, asset_type=asset_type,
                                        target_stage=target_stage, limit=limit, offset=offset)

    def pending_by_ref(self, asset_type: str, refs: Sequence[str]
                       ) -> dict[str, list[ApprovalRequestPublic]]:
        """The pending requests of the versions ``refs`` name, oldest first, by ref."""
        return self.views.pending_by_ref(asset_type, refs)

    def approved_request(self, asset_type: str, ref: str, *, digest: str,
                         stage: GovernedStage) -> ApprovalRequestPublic | None:
        """The latest approved request that put exactly this content of ``ref`` into ``stage``."""
        return self.views.approved_request(asset_type, ref, digest=digest, stage=stage)

    def get_request(self, request_id: str) -> ApprovalRequestDetail:
        """One request with its frozen evaluation, the evidence, and who holds the stage now."""
        return self.views.get_request(request_id)

    # -- requests -----------------------------------------------------------------------

    def request_promotion(self, ref: str, *, to: str) -> ApprovalRequestPublic:
        """Ask to promote ``ref`` into stage ``to``; refused at once if hard gates fail."""
        _check_stage(to)
        with self.db.write() as s:
            actor = self.access.acting(s, f"request promotion of {ref} to {to}").user
            typ, asset, version = self._resolve(s, ref)
            canonical = store.version_ref(typ, asset.name, version.version)
            _check_stage_asset(typ, to, canonical)
            if version.stage == to:
                raise ConflictError(f"{canonical} is already in {to}")
            self._expire_lapsed(s, typ, version.id, to)
            open_request = s.execute(select(col(ApprovalRequest.id)).where(
                col(ApprovalRequest.asset_type) == typ,
                col(ApprovalRequest.version_id) == version.id,
                col(ApprovalRequest.target_stage) == to, col(ApprovalRequest.status) == "pending",
                col(ApprovalRequest.expires_at) > utcnow())).scalars().first()
            if open_request is not None:
                raise ConflictError(f"{canonical} already has a pending request to {to}: "
                                    f"{open_request}")
            require_role(s, actor, {"submitter", "admin"}, f"request promotion of "
                               f"{canonical}")
            if version.status == REVALIDATION_REQUIRED:
                raise PolicyViolationError(
                    f"{canonical} is {REVALIDATION_REQUIRED} (revoked or breached monitoring): it "
                    f"cannot enter {to} until a validator revalidates it on new evidence "
                    f"(`lmops revalidate {canonical}`)", field="ref")
            evaluation = self.policy_source.judge_transition(s, typ, asset, version, to, actor)
            if not evaluation.allowed:
                reasons = [f"{o.rule}/{o.condition or o.check}: {o.status}: {o.message}"
                           for o in evaluation.blocking]
                self.audit.record(s, "promotion.refused", canonical,
                                            after={"to": to, "reasons": reasons})
                refused = PolicyViolationError(
                    f"promotion of {canonical} to {to} refused by policy:\n  - "
                    + "\n  - ".join(reasons), evaluation=evaluation.model_dump(mode="json"))
                # Commit the refusal's audit event, then raise.
                s.commit()
                raise refused
            evidence_digests = sorted(f.digest for f in
                                      evidence_facts(s, typ, version) if f.digest)
            ttl = evaluation.request_ttl or DEFAULT_TTL
            snapshot = {"ref": canonical, "to": to, "version_digest": version.digest,
                        "policy_digests": evaluation.policy_digests,
                        "evidence_digests": evidence_digests,
                        "evaluation": evaluation.model_dump(mode="json")}
            now = utcnow()
            req = ApprovalRequest(
                id=uuid.uuid4().hex, asset_type=typ, version_id=version.id, ref=canonical,
                target_stage=to, requested_by=actor, status="pending", created_at=now,
                expires_at=now + ttl, version_digest=version.digest,
                policy_digests=evaluation.policy_digests, evidence_digests=evidence_digests,
                evaluation=snapshot["evaluation"],
                required_approvals=dict(evaluation.required_approvals),
                separation_of_duties=evaluation.separation_of_duties,
                snapshot_digest=digest_bytes(canonical_json(snapshot).encode()))
            s.add(req)
            try:
                s.flush()
            except sa_exc.IntegrityError:
                # uq_approval_pending: a concurrent request for the same version and
                # stage committed between the check above and this insert.
                raise ConflictError(f"{canonical} already has a pending request to {to} "
                                    "(made concurrently)") from None
            self.audit.record(s, "promotion.request", canonical,
                                        after={"request_id": req.id, "to": to,
                                               "snapshot_digest": req.snapshot_digest})
            store.attach_evidence(s, self.audit, asset_type=typ, version=version,
                                  expected_digest=version.digest, kind="promotion_request",
                                  stage="deployment", plugin="lmops-core",
                                  metrics={"to": to, "request_id": req.id},
                                  details=snapshot)
            events: list[DecisionEvent] = []
            if not req.required_approvals:
                events.append(self._promote(s, req, typ, asset, version, actor))
            public = request_public(s, req)
        self._emit(events)
        return public

    def _expire_lapsed(self, s: Session, typ: str, version_id: int, to: str) -> None:
        # A pending request past its expiry no longer blocks a new one, but it still
        # occupies uq_approval_pending until it is marked expired.
        for req in s.execute(select(ApprovalRequest).where(
                col(ApprovalRequest.asset_type) == typ,
                col(ApprovalRequest.version_id) == version_id,
                col(ApprovalRequest.target_stage) == to, col(ApprovalRequest.status) == "pending",
                col(ApprovalRequest.expires_at) <= utcnow())).scalars().all():
            req.status, req.decided_at, req.reason = "expired", utcnow(), "request expired"
            s.add(req)
            self.audit.record(s, "promotion.expired", req.ref,
                                        after={"request_id": req.id})
        s.flush()

    def decide(self, request_id: str, *, approve: bool, role: str,
               comment: str) -> ApprovalRequestPublic:
        """Approve or reject a pending request as ``role``, with a mandatory comment."""
        if not comment or not comment.strip():
            raise ValidationError("a decision needs a comment saying why", field="comment")
        _check_text(comment, "comment")
        invalid: ConflictError | None = None
        events: list[DecisionEvent] = []
        with self.db.write() as s:
            who = self.access.acting(s, f"{'approve' if approve else 'reject'} request {request_id}")
            actor = who.user
            req = self._locked_request(s, request_id)
            if req.status != "pending":
                raise ConflictError(f"request {request_id} is {req.status}, not pending")
            typ, asset, version = req.asset_type, *request_subject(s, req)
            problem = self._staleness(s, req, version)
            if problem is None and approve:
                problem = self._recheck(s, req, asset, version)
            if problem is not None:
                status, reason = problem
                events.append(self._close(s, req, status, reason, actor))
                invalid = ConflictError(f"request {request_id} is {status}: {reason}")
            else:
                self._record_decision(s, req, version, who, role, approve, comment)
                events.append(_event(req, "approved" if approve else "rejected", actor, comment))
                if approve and self._complete(s, req):
                    events.append(self._promote(s, req, typ, asset, version, actor))
                elif not approve:
                    req.status, req.decided_at, req.reason = "rejected", utcnow(), comment
                    s.add(req)
                    self.audit.record(s, "promotion.rejected", req.ref,
                                                after={"request_id": req.id, "by": actor})
                    events[-1] = _event(req, "rejected", actor, comment)
            public = request_public(s, req)
        self._emit(events)
        if invalid is not None:
            raise invalid
        return public

    def _close(self, s: Session, req: ApprovalRequest, status: _Ending, reason: str,
               actor: str) -> DecisionEvent:
        """End a pending request as ``expired`` or ``invalidated``, audited; its event."""
        req.status, req.reason, req.decided_at = status, reason, utcnow()
        s.add(req)
        self.audit.record(s, f"promotion.{status}", req.ref,
                                    after={"request_id": req.id, "reason": reason})
        return _event(req, status, actor, reason)

    def _locked_request(self, s: Session, request_id: str) -> ApprovalRequest:
        q = select(ApprovalRequest).where(col(ApprovalRequest.id) == request_id).with_for_update()
        req: ApprovalRequest | None = s.execute(q).scalars().first()
        if req is None:
            raise NotFoundError(f"approval request {request_id!r} does not exist")
        return req

    def _staleness(self, s: Session, req: ApprovalRequest, version: Any
                   ) -> tuple[_Ending, str] | None:
        if utcnow() > aware(req.expires_at):
            return "expired", f"it expired at {aware(req.expires_at).isoformat()}"
        if version.digest != req.version_digest:
            return "invalidated", "the version's content changed after the request"
        if version.status == REVALIDATION_REQUIRED:
            return "invalidated", (f"{req.ref} is {REVALIDATION_REQUIRED} (revoked or breached "
                                   "monitoring) and must be revalidated first")
        revoked_at = self._last_revocation(s, req.asset_type, version)
        if revoked_at is not None and revoked_at >= aware(req.created_at):
            return "invalidated", (f"{req.ref} was revoked at {revoked_at.isoformat()}, after "
                                   "the request was made")
        current = sorted(f.digest for f in evidence_facts(s, req.asset_type, version)
                         if f.digest)
        if current != sorted(req.evidence_digests):
            return "invalidated", "the version's evidence changed after the request"
        try:
            digests = self.policy_source.policies().digests
        except Exception as exc:  # noqa: BLE001 - a broken policy file also invalidates
            return "invalidated", f"the policy files no longer load: {exc}"
        for file, digest in req.policy_digests.items():
            if digests.get(file) != digest:
                return "invalidated", f"policy file {file} changed after the request"
        return None

    def check_pickle_allowed(self, s: Session, actor: str, risk_tier: str) -> None:
        """Refuse ``allow_pickle`` unless a policy rule (transition ``allow-pickle``) permits
        it for this risk tier and ``actor`` holds one of the roles that rule names."""
        rules = self.policy_source.policies().select("model", risk_tier, PICKLE_TRANSITION)
        if not rules:
            raise PermissionDeniedError(
                f"no policy rule permits pickle-based files for {risk_tier}-risk models "
                f"(a rule with transition {PICKLE_TRANSITION!r}); convert them to safetensors")
        # Allowing pickle is a decision: the roles are those of a verified identity, not of
        # whatever name the workspace is labelled with.
        who = self.access.acting(s, f"register pickle-based files for a {risk_tier}-risk model")
        if who.user != actor:
            raise PermissionDeniedError(f"{actor!r} may not register pickle-based files: "
                                        f"the credential presented is {who.user!r}'s")
        for matched in rules:
            roles = {a.role for a in matched.rule.approvals} or {"admin"}
            require_role(s, who.user, roles, f"register pickle-based files (policy rule "
                               f"{matched.rule.name})")

    def _record_decision(self, s: Session, req: ApprovalRequest, version: Any, who: Identity,
                         role: str, approve: bool, comment: str) -> None:
        actor = who.user
        reviewer_roles = set(req.required_approvals) or {"validator", "risk_officer", "admin"}
        if role not in reviewer_roles:
            raise PermissionDeniedError(
                f"role {role!r} does not review this request (needs: "
                f"{', '.join(sorted(reviewer_roles))})")
        require_role(s, actor, {role}, f"decide request {req.id} as {role}")
        if req.separation_of_duties:
            if actor == req.requested_by:
                raise PermissionDeniedError(f"{actor!r} requested this promotion and cannot "
                                            "also decide it (separation of duties)")
            if actor == version.created_by:
                raise PermissionDeniedError(f"{actor!r} authored {req.ref} and cannot decide "
                                            "its promotion (separation of duties)")
            _require_known_author(s, req.asset_type, req.ref, version)
        already = s.execute(select(ApprovalDecision).where(
            col(ApprovalDecision.request_id) == req.id,
            col(ApprovalDecision.actor) == actor)).scalars().first()
        if already is not None:
            raise ConflictError(f"{actor!r} already decided request {req.id} "
                                "(each reviewer decides once)")
        if req.evaluation.get("require_personal_signature") and who.method != "personal-key":
            raise PermissionDeniedError(
                f"the policy governing request {req.id} requires a personal signature "
                "(require_personal_signature): decide with your registered personal signing "
                f"key (LMOPS_SIGNING_KEY); a decision by {who.describe()} does not count")
        decision = "approve" if approve else "reject"
        now = utcnow()
        signed = sign(approval_statement(req=req, identity=who, decision=decision, role=role,
                                         comment=comment, at=now),
                      signer_for(who, self.home))
        s.add(ApprovalDecision(request_id=req.id, actor=actor, role=role, decision=decision,
                               comment=comment, created_at=now, statement=signed.statement,
                               signature=signed.signature,
                               key_fingerprint=signed.key_fingerprint, auth_method=who.method))
        s.flush()
        self.audit.record(s, "approval.approve" if approve else "approval.reject",
                                    req.ref, after={"request_id": req.id, "role": role,
                                                    "comment": comment})
        store.attach_evidence(s, self.audit, asset_type=req.asset_type,
                              version=version, expected_digest=req.version_digest,
                              kind="approval", stage="deployment", plugin="lmops-core",
                              metrics={"decision": "approve" if approve else "reject",
                                       "role": role, "request_id": req.id},
                              details={"actor": actor, "comment": comment,
                                       "auth_method": who.method, **signed.to_json()})

    def _recheck(self, s: Session, req: ApprovalRequest, asset: Any, version: Any
                 ) -> tuple[_Ending, str] | None:
        """Judge the request again under the policy as it stands at the moment of the decision.

        The snapshot froze the evaluation when the request was made; evidence
        ages (``max_age``), the version in production changes, plugin checks
        change their answer. A request whose evaluation no longer passes, or
        that now needs other sign-offs, is invalidated.
        """
        try:
            evaluation = self.policy_source.judge_transition(s, req.asset_type, asset, version, req.target_stage,
                                        req.requested_by)
        except Exception as exc:  # noqa: BLE001 - fail closed: what cannot be judged is refused
            return "invalidated", f"the policy could not be evaluated again: {exc}"
        if not evaluation.allowed:
            reasons = "; ".join(f"{o.rule}/{o.condition or o.check}: {o.status}: {o.message}"
                                for o in evaluation.blocking)
            return "invalidated", f"the policy no longer allows it: {reasons}"
        if (dict(evaluation.required_approvals) != dict(req.required_approvals)
                or evaluation.separation_of_duties != req.separation_of_duties):
            return "invalidated", ("the policy now asks for other sign-offs "
                                   f"({dict(evaluation.required_approvals)})")
        return None

    def _approvals(self, s: Session, req: ApprovalRequest) -> Counter[str]:
        """Approvals that count now: only from reviewers who still hold the role they used."""
        rows = s.execute(select(col(ApprovalDecision.role)).join(
            UserRole, (col(UserRole.user) == ApprovalDecision.actor)
            & (col(UserRole.role) == ApprovalDecision.role)).where(
            col(ApprovalDecision.request_id) == req.id,
            col(ApprovalDecision.decision) == "approve"))
        return Counter(rows.scalars())

    def _complete(self, s: Session, req: ApprovalRequest) -> bool:
        have = self._approvals(s, req)
        return all(have[role] >= n for role, n in req.required_approvals.items())

    def _promote(self, s: Session, req: ApprovalRequest, typ: str, asset: Any, version: Any,
                 actor: str) -> DecisionEvent:
        """Move the version into the stage unless a plugin vetoes; the event of the outcome."""
        evidence = {f.kind: dict(f.metrics) for f in evidence_facts(s, typ, version)}
        context = PromotionContext(request_id=req.id, asset_type=typ,  # type: ignore[arg-type]
                                   ref=req.ref, version_digest=version.digest,
                                   target_stage=req.target_stage, requested_by=req.requested_by,
                                   evidence=evidence)
        vetoes = [v for v in self.plugins.hook.lmops_before_promotion(promotion=context) if v]
        if vetoes:
            req.status, req.decided_at = "rejected", utcnow()
            req.reason = "vetoed by a plugin: " + "; ".join(vetoes)
            s.add(req)
            self.audit.record(s, "promotion.vetoed", req.ref,
                                        after={"request_id": req.id, "vetoes": vetoes})
            return _event(req, "vetoed", actor, req.reason)
        previous = stage_holder(s, typ, asset, req.target_stage)
        if previous is not None:
            previous.stage = None
            s.add(previous)
            s.flush()  # leave the stage before the new holder enters it (uq_*_stage)
            self.audit.record(s, "stage.leave",
                                        store.ref_of(s, typ, previous),
                                        before={"stage": req.target_stage}, after={"stage": None})
        version.stage = req.target_stage
        s.add(version)
        req.status, req.decided_at = "approved", utcnow()
        s.add(req)
        s.flush()
        self.audit.record(s, "promotion.complete", req.ref,
                                    before={"stage": None}, after={"stage": req.target_stage,
                                                                   "request_id": req.id})
        store.attach_evidence(s, self.audit, asset_type=typ, version=version,
                              expected_digest=version.digest, kind="promotion",
                              stage="deployment", plugin="lmops-core",
                              metrics={"stage": req.target_stage, "request_id": req.id},
                              details={"approvals": dict(self._approvals(s, req)),
                                       "policy_digests": req.policy_digests})
        return _event(req, "promoted", actor, "")

    def revoke(self, ref: str, *, stage: str, reason: str) -> None:
        """Take a version out of a stage (monitoring breach, incident); audited."""
        if not reason.strip():
            raise ValidationError("a revocation needs a reason", field="reason")
        _check_text(reason, "reason")
        with self.db.write() as s:
            self.access.acting(s, f"revoke {ref} from {stage}")
            typ, asset, version = self._resolve(s, ref)
            canonical = store.version_ref(typ, asset.name, version.version)
            if version.stage != stage:
                raise ConflictError(f"{canonical} is not in {stage}")
            require_role(s, self.identity.user, {"risk_officer", "validator", "admin"},
                               f"revoke {canonical}")
            events = self._withdraw(s, typ, version, canonical, stage=stage, reason=reason,
                                    by_policy=False)
        self._emit(events)

    def monitoring_verdict(self, s: Session, typ: str, asset: Any,
                           version: Any) -> PolicyEvaluation:
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
            raise ValidationError(f"unknown breach action {action!r}: expected "
                                  "revalidation-required or revoke", field="action")
        with self.db.write() as s:
            typ, asset, version = self._resolve(s, ref)
            canonical = store.version_ref(typ, asset.name, version.version)
            stage = version.stage
            if stage is None:
                raise ConflictError(f"{canonical} is in no stage: there is nothing to monitor")
            verdict = self.monitoring_verdict(s, typ, asset, version)
            if verdict.allowed:
                raise PolicyViolationError(
                    f"the monitoring rules for {canonical} in {stage} hold: no breach to act on")
            if action not in verdict.breach_actions:
                raise PolicyViolationError(
                    f"the monitoring rules for {canonical} in {stage} do not ask for "
                    f"{action!r} on a breach (on_breach: {', '.join(verdict.breach_actions)})")
            reasons = [f"{o.rule}/{o.condition or o.check}: {o.status}: {o.message}"
                       for o in verdict.blocking]
            reason = "monitoring breach: " + "; ".join(reasons)
            leave = stage if action == "revoke" else None
            if leave is None and version.status == REVALIDATION_REQUIRED:
                return reasons  # already marked (an earlier action of the same breach)
            events = self._withdraw(s, typ, version, canonical, stage=leave, reason=reason,
                                    by_policy=True)
        self._emit(events)
        return reasons

    def _withdraw(self, s: Session, typ: str, version: Any, canonical: str, *,
                  stage: str | None, reason: str, by_policy: bool) -> list[DecisionEvent]:
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
        store.attach_evidence(s, self.audit, asset_type=typ, version=version,
                              expected_digest=version.digest, kind="revocation",
                              stage="monitoring", plugin="lmops-core",
                              metrics={"stage": stage or "", "by_policy": by_policy,
                                       "action": "revoke" if stage else REVALIDATION_REQUIRED},
                              details={"reason": reason})
        events = []
        if stage is not None:
            events.append(DecisionEvent(request_id=None, ref=canonical, target_stage=stage,
                                        decision="revoked", actor=self.identity.user, comment=reason,
                                        status=REVALIDATION_REQUIRED))
        pending = s.execute(select(ApprovalRequest).where(
            col(ApprovalRequest.asset_type) == typ,
            col(ApprovalRequest.version_id) == version.id,
            col(ApprovalRequest.status) == "pending").with_for_update()).scalars().all()
        for req in pending:
            events.append(self._close(s, req, "invalidated",
                                      f"{canonical} was revoked: {reason}", self.identity.user))
        return events

    def _last_revocation(self, s: Session, typ: str, version: Any) -> datetime | None:
        """When the version was last revoked or marked revalidation-required (None: never)."""
        from lmops_core.registry.models import Evidence

        last = s.execute(select(func.max(Evidence.created_at)).where(
            col(Evidence.subject_type) == typ, col(Evidence.subject_id) == version.id,
            col(Evidence.kind) == "revocation")).scalar_one_or_none()
        return aware(last) if last is not None else None

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
        _check_text(comment, "comment")
        with self.db.write() as s:
            actor = self.access.acting(s, f"revalidate {ref}").user  # a decision: a credential
            typ, asset, version = self._resolve(s, ref)
            canonical = store.version_ref(typ, asset.name, version.version)
            require_role(s, actor, set(REVALIDATOR_ROLES), f"revalidate {canonical}")
            if version.status != REVALIDATION_REQUIRED:
                raise ConflictError(f"{canonical} is {version.status}, not "
                                    f"{REVALIDATION_REQUIRED}: there is nothing to revalidate")
            if actor == version.created_by:
                raise PermissionDeniedError(f"{actor!r} authored {canonical} and cannot "
                                            "revalidate it (separation of duties)")
            _require_known_author(s, typ, canonical, version)
            since = self._last_revocation(s, typ, version) or aware(version.created_at)
            stale = self._kinds_without_new_evidence(s, typ, asset, version, since)
            if stale:
                raise PolicyViolationError(
                    f"{canonical} cannot be revalidated: no evidence recorded after its "
                    f"revocation at {since.isoformat()} for kind(s) {', '.join(stale)}; "
                    "record new evidence for each first", field="ref")
            version.status = "active"
            s.add(version)
            s.flush()
            self.audit.record(s, "promotion.revalidated", canonical,
                                        before={"status": REVALIDATION_REQUIRED},
                                        after={"status": "active", "comment": comment})
            store.attach_evidence(s, self.audit, asset_type=typ, version=version,
                                  expected_digest=version.digest, kind="revalidation",
                                  stage="evaluation", plugin="lmops-core",
                                  metrics={"since": since.isoformat()},
                                  details={"actor": actor, "comment": comment})
        self._emit([DecisionEvent(request_id=None, ref=canonical, target_stage="",
                                  decision="revalidated", actor=actor, comment=comment,
                                  status="active")])

    def _kinds_without_new_evidence(self, s: Session, typ: str, asset: Any, version: Any,
                                    since: datetime) -> list[str]:
        tier = getattr(asset, "risk_tier", "standard")
        policies = self.policy_source.policies()
        required = {req.kind for stage in GOVERNED_STAGES
                    for matched in policies.select(typ, tier, stage)
                    for req in matched.rule.evidence}
        fresh = {e.kind for e in store.list_evidence(s, typ, version.id)
                 if aware(e.created_at) > since}
        return sorted(required - fresh)

    def expire_due(self) -> int:
        """Mark pending requests past their expiry as expired; returns how many."""
        with self.db.write() as s:
            due = s.execute(select(ApprovalRequest).where(
                col(ApprovalRequest.status) == "pending",
                col(ApprovalRequest.expires_at) < utcnow()).with_for_update()).scalars().all()
            events = [self._close(s, req, "expired", "request expired", self.identity.user)
                      for req in due]
        self._emit(events)
        return len(events)

    def _emit(self, events: Sequence[DecisionEvent]) -> None:
        """Tell every ``lmops_after_decision`` observer, after the commit: the one place.

        Each observer is called on its own; one that raises is logged with its
        plugin's name and the rest still hear of the decision, which stands.
        """
        impls = self.plugins.hook.lmops_after_decision.get_hookimpls()
        for event in events:
            for impl in reversed(impls):  # registration order
                try:
                    impl.function(**{k: event for k in impl.argnames if k == "decision"})
                except Exception:  # noqa: BLE001 - observers never undo a committed decision
                    logger.exception("lmops_after_decision observer of plugin %r failed on %s "
                                     "of %s (request %s); the decision stands",
                                     impl.plugin_name, event.decision, event.ref,
                                     event.request_id)


def _event(req: ApprovalRequest, decision: Decision, actor: str, comment: str | None
           ) -> DecisionEvent:
    return DecisionEvent(request_id=req.id, ref=req.ref, target_stage=req.target_stage,
                         decision=decision, actor=actor,
                         comment=comment or "", status=req.status)


def _check_stage(stage: str) -> None:
    if stage not in GOVERNED_STAGES:
        raise ValidationError(f"unknown target stage {stage!r} (expected one of "
                              f"{', '.join(GOVERNED_STAGES)})", field="to")


def _check_stage_asset(asset_type: str, stage: str, ref: str) -> None:
    allowed = STAGE_ASSET_TYPES.get(stage)
    if allowed is not None and asset_type not in allowed:
        raise ValidationError(f"{ref}: only {', '.join(allowed)} versions can enter {stage}",
                              field="to")
    if asset_type == "suite" and stage != "approved-for-use":
        raise ValidationError(f"{ref}: a suite version can only enter approved-for-use",
                              field="to")


def _check_text(value: str, field: str) -> None:
    if "\x00" in value or len(value) > 10_000:
        raise ValidationError(f"{field} must be at most 10,000 characters without NUL bytes",
                              field=field)





__all__ = ["GOVERNED_STAGES", "Governance"]


def _require_known_author(s: Session, asset_type: str, ref: str, version: Any) -> None:
    """Separation of duties needs to know who wrote the version, not a name they typed."""
    if store.author_identity(s, asset_type, ref) == "asserted":
        raise PermissionDeniedError(
            f"separation of duties cannot be shown for {ref}: it was registered under the "
            f"name {version.created_by!r} with no credential, so who wrote it is unknown and "
            "no reviewer can be shown independent of its author; register it again with a "
            "credential (LMOPS_TOKEN or LMOPS_SIGNING_KEY)", field="ref")
