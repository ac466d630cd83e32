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
import secrets
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import SecretStr
from sqlalchemy import Select, func, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import QueryableAttribute, defer
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
from lmops_core.governance.identity import (
    Identity,
    hash_secret,
    require_verified,
    token_row,
)
from lmops_core.governance.models import (
    REQUEST_STATUSES,
    ROLES,
    ApiToken,
    ApprovalDecision,
    ApprovalRequest,
    UserRole,
)
from lmops_core.governance.schemas import (
    ApprovalRequestDetail,
    ApprovalRequestPublic,
    DecisionPublic,
    Page,
    Principal,
)
from lmops_core.governance.signing import approval_statement, sign, signer_for
from lmops_core.policy import (
    EvaluationFacts,
    EvidenceFacts,
    PolicyEvaluation,
    PolicySet,
    StageVersionFacts,
    VersionFacts,
    evaluate,
    functions_from_checks,
    load_policies,
)
from lmops_core.registry import store
from lmops_core.registry.models import utcnow
from lmops_core.registry.plain_text import check_text
from lmops_core.validation import checked_public
from lmops_core.vocabulary import GOVERNED_STAGES as GOVERNED_STAGES

if TYPE_CHECKING:
    from lmops_core.workspace import Workspace

#: Evidence kinds the workflow writes itself; they never invalidate a request.
GOVERNANCE_KINDS = frozenset({"promotion_request", "approval", "promotion", "revocation",
                              "revalidation"})
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


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@checked_public  # every argument checked before it nears the database (lmops_core.validation)
class Governance:
    """Policies, roles, tokens and promotion requests of one workspace."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    # -- policies ---------------------------------------------------------------

    @property
    def policies_dir(self) -> Path:
        configured = self.ws.settings.policies_dir
        if configured is not None:
            return configured
        local = Path("policies")
        return local if local.is_dir() else self.ws.settings.home / "policies"

    def policies(self) -> PolicySet:
        """Load every policy file; a broken file raises and so blocks (fail closed)."""
        folder = self.policies_dir.resolve()
        if not folder.is_dir():
            return PolicySet(())  # no policy at all: production requests block (fail closed)
        return load_policies(folder)

    def _functions(self) -> dict[str, Any]:
        return functions_from_checks([r.value for r in self.ws.plugins.policy_checks.values()])

    def _evidence_facts(self, s: Session, asset_type: str, version: Any) -> list[EvidenceFacts]:
        out = []
        for e in store.list_evidence(s, asset_type, version.id):
            if e.kind in GOVERNANCE_KINDS:
                continue
            out.append(EvidenceFacts(kind=e.kind, subject_digest=e.subject_digest,
                                     metrics=e.metrics, created_at=_aware(e.created_at),
                                     stage=e.stage if e.stage in _STAGES else None,
                                     plugin=e.plugin, digest=e.digest, actor=e.created_by,
                                     run_id=e.run_id))
        return out

    def _version_facts(self, s: Session, asset_type: str, asset: Any, version: Any,
                       cls: type[VersionFacts] = VersionFacts, **extra: Any) -> Any:
        kind = getattr(version, "kind", None) or getattr(version, "shape", None)
        return cls(ref=store.version_ref(asset_type, asset.name, version.version),
                   digest=version.digest, asset_type=asset_type,
                   risk_tier=getattr(asset, "risk_tier", "standard"), kind=kind,
                   created_by=version.created_by, created_at=_aware(version.created_at),
                   metadata=dict(version.meta),
                   tags=[f"{k}={v}" if v else k
                         for k, v in store.tags_of(s, asset_type, version.id).items()],
                   **extra)

    def _holder(self, s: Session, asset_type: str, asset: Any, stage: str) -> Any | None:
        _, version_cls, fk = store.asset_classes(asset_type)
        return s.execute(select(version_cls).where(getattr(version_cls, fk) == asset.id,
                                                   version_cls.stage == stage)).scalars().first()

    def _facts(self, s: Session, asset_type: str, asset: Any, version: Any, target: str,
               requester: str) -> EvaluationFacts:
        holder = self._holder(s, asset_type, asset, target)
        current = None
        if holder is not None and holder.id != version.id:
            current = self._version_facts(s, asset_type, asset, holder, StageVersionFacts,
                                          evidence=self._evidence_facts(s, asset_type, holder))
        production = current if target == "production" else None
        if target != "production":
            prod = self._holder(s, asset_type, asset, "production")
            if prod is not None and prod.id != version.id:
                production = self._version_facts(s, asset_type, asset, prod, StageVersionFacts,
                                                 evidence=self._evidence_facts(s, asset_type,
                                                                               prod))
        return EvaluationFacts(version=self._version_facts(s, asset_type, asset, version),
                               transition=target, requester=requester,
                               evidence=self._evidence_facts(s, asset_type, version),
                               current=current, production=production)

    def _evaluate(self, s: Session, asset_type: str, asset: Any, version: Any, target: str,
                  requester: str) -> PolicyEvaluation:
        policies = self.policies()
        rules = policies.select(asset_type, getattr(asset, "risk_tier", "standard"), target)
        facts = self._facts(s, asset_type, asset, version, target, requester)
        return evaluate(rules, facts, now=datetime.now(UTC), functions=self._functions(),
                        roles=ROLES, evidence_metrics=self.evidence_metrics())

    def evidence_metrics(self) -> dict[str, dict[str, str]]:
        """The metrics each registered evidence kind declares (for rule checks)."""
        return self.ws.plugins.metric_types()

    def explain(self, ref: str, *, to: str) -> PolicyEvaluation:
        """Dry run: how the policy judges promoting ``ref`` to ``to`` right now."""
        _check_stage(to)
        with self.ws.db.read() as s:
            parsed_type, asset, version = self._resolve(s, ref)
            return self._evaluate(s, parsed_type, asset, version, to, self.ws.actor)

    def _resolve(self, s: Session, ref: str) -> tuple[str, Any, Any]:
        from lmops_core.registry.names import parse_ref

        parsed = parse_ref(ref)
        typ = parsed.asset_type or "model"
        asset, version = store.resolve(s, parsed, typ)
        return typ, asset, version

    # -- roles and tokens -----------------------------------------------------------

    def roles_of(self, user: str) -> frozenset[str]:
        with self.ws.db.read() as s:
            return frozenset(s.execute(select(col(UserRole.role))
                                       .where(col(UserRole.user) == user)).scalars())

    def _acting(self, s: Session, action: str) -> Identity:
        """The verified identity deciding ``action`` now, or ``AuthenticationError``."""
        return require_verified(s, self.ws.identity, action, embedded=self.ws.db.is_sqlite)

    def bootstrap_admin(self, user: str, *, description: str = "bootstrap") -> str:
        """Make ``user`` the first admin of a store that has none; returns their first token.

        The only way to the first admin, explicit and audited; refused once any
        admin exists (then an admin grants roles with their own credential).
        """
        if not user or len(user) > 128 or "\x00" in user:
            raise ValidationError("user names must be 1-128 characters", field="user")
        token_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        with self.ws.db.write() as s:
            if self.ws.db.dialect == "postgresql":  # two bootstraps cannot both see no admin
                s.execute(select(func.pg_advisory_xact_lock(0x6C6D6F7073)))
            admins = sorted(s.execute(select(col(UserRole.user))
                                      .where(col(UserRole.role) == "admin")).scalars())
            if admins:
                raise ConflictError(f"this store already has an admin ({', '.join(admins)}): "
                                    "bootstrapping is possible only on a store without one")
            s.add(UserRole(user=user, role="admin", granted_by=f"bootstrap:{self.ws.actor}"[:128]))
            s.add(ApiToken(id=token_id, user=user, secret_hash=hash_secret(secret),
                           description=description, created_by=f"bootstrap:{self.ws.actor}"[:128]))
            s.flush()
            self.ws.audit_writer.record(s, "admin.bootstrap", f"user:{user}",
                                        after={"role": "admin", "token_id": token_id})
        return f"lmops_{token_id}_{secret}"

    def grant_role(self, user: str, role: str) -> None:
        """Give ``user`` a role (an admin acting with a credential)."""
        check_text(user, "user", max_length=128)
        if not user.strip():
            raise ValidationError("user must not be empty", field="user")
        if role not in ROLES:
            raise ValidationError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})",
                                  field="role")
        with self.ws.db.write() as s:
            who = self._require_admin(s, f"grant role {role} to {user!r}")
            exists = s.execute(select(UserRole).where(
                col(UserRole.user) == user, col(UserRole.role) == role)).scalars().first()
            if exists:
                return
            try:
                with s.begin_nested():
                    s.add(UserRole(user=user, role=role, granted_by=who.user))
            except sa_exc.IntegrityError:
                return  # granted concurrently (uq_user_role): the role is held, as asked
            self.ws.audit_writer.record(s, "role.grant", f"user:{user}",
                                        after={"role": role, "by": who.describe()})

    def revoke_role(self, user: str, role: str) -> None:
        check_text(user, "user", max_length=128)
        with self.ws.db.write() as s:
            who = self._require_admin(s, f"revoke role {role} from {user!r}")
            row = s.execute(select(UserRole).where(
                col(UserRole.user) == user, col(UserRole.role) == role)).scalars().first()
            if row is None:
                raise NotFoundError(f"user {user!r} does not hold role {role!r}")
            s.delete(row)
            self.ws.audit_writer.record(s, "role.revoke", f"user:{user}", before={"role": role},
                                        after={"by": who.describe()})

    def _require_admin(self, s: Session, action: str) -> Identity:
        who = self._acting(s, action)
        is_admin = s.execute(select(UserRole).where(
            col(UserRole.user) == who.user, col(UserRole.role) == "admin")).scalars().first()
        if is_admin is None:
            admins = s.execute(select(func.count()).select_from(UserRole)
                               .where(col(UserRole.role) == "admin")).scalar_one()
            hint = "" if admins else (": this store has no admin yet; bootstrap one with "
                                      "`lmops init --admin NAME`")
            raise PermissionDeniedError(f"{who.user!r} may not {action}: it is not an "
                                        f"admin{hint}")
        return who

    def create_token(self, user: str, *, role: str | None = None,
                     description: str = "") -> str:
        """Create a bearer token for ``user`` (granting ``role`` first); returns the token once."""
        if role is not None:
            self.grant_role(user, role)
        token_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        with self.ws.db.write() as s:
            who = self._require_admin(s, f"create a token for {user!r}")
            s.add(ApiToken(id=token_id, user=user, secret_hash=hash_secret(secret),
                           description=description, created_by=who.user))
            s.flush()
            self.ws.audit_writer.record(s, "token.create", f"user:{user}",
                                        after={"token_id": token_id, "by": who.describe()})
        return f"lmops_{token_id}_{secret}"

    def revoke_token(self, token_id: str) -> None:
        with self.ws.db.write() as s:
            row = s.get(ApiToken, token_id)
            if row is None or row.revoked_at is not None:
                self._require_admin(s, f"revoke token {token_id}")
                raise NotFoundError(f"no active token {token_id!r}")
            who = self._acting(s, f"revoke token {token_id}")
            if who.user != row.user:  # anyone may revoke their own token
                self._require_admin(s, f"revoke token {token_id} of {row.user!r}")
            row.revoked_at = utcnow()
            s.add(row)
            self.ws.audit_writer.record(s, "token.revoke", f"user:{row.user}",
                                        after={"token_id": token_id, "by": who.describe()})

    def list_tokens(self) -> list[dict[str, Any]]:
        with self.ws.db.read() as s:
            return [{"id": t.id, "user": t.user, "description": t.description,
                     "created_at": t.created_at, "revoked": t.revoked_at is not None}
                    for t in s.execute(select(ApiToken)
                                       .order_by(col(ApiToken.created_at))).scalars()]

    def authenticate(self, token: str) -> Principal:
        """The principal a bearer token stands for, or ``AuthenticationError``."""
        with self.ws.db.read() as s:
            row = token_row(s, token)
            roles = frozenset(s.execute(select(col(UserRole.role))
                                        .where(col(UserRole.user) == row.user)).scalars())
            return Principal(user=row.user, roles=roles, token_id=row.id,
                             token=SecretStr(token))

    # -- requests -----------------------------------------------------------------------

    def request_promotion(self, ref: str, *, to: str) -> ApprovalRequestPublic:
        """Ask to promote ``ref`` into stage ``to``; refused at once if hard gates fail."""
        _check_stage(to)
        with self.ws.db.write() as s:
            actor = self._acting(s, f"request promotion of {ref} to {to}").user
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
            self._require_role(s, actor, {"submitter", "admin"}, f"request promotion of "
                               f"{canonical}")
            if version.status == REVALIDATION_REQUIRED:
                raise PolicyViolationError(
                    f"{canonical} is {REVALIDATION_REQUIRED} (revoked or breached monitoring): it "
                    f"cannot enter {to} until a validator revalidates it on new evidence "
                    f"(`lmops revalidate {canonical}`)", field="ref")
            evaluation = self._evaluate(s, typ, asset, version, to, actor)
            if not evaluation.allowed:
                reasons = [f"{o.rule}/{o.condition or o.check}: {o.status}: {o.message}"
                           for o in evaluation.blocking]
                self.ws.audit_writer.record(s, "promotion.refused", canonical,
                                            after={"to": to, "reasons": reasons})
                refused = PolicyViolationError(
                    f"promotion of {canonical} to {to} refused by policy:\n  - "
                    + "\n  - ".join(reasons), evaluation=evaluation.model_dump(mode="json"))
                # Commit the refusal's audit event, then raise.
                s.commit()
                raise refused
            evidence_digests = sorted(f.digest for f in
                                      self._evidence_facts(s, typ, version) if f.digest)
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
            self.ws.audit_writer.record(s, "promotion.request", canonical,
                                        after={"request_id": req.id, "to": to,
                                               "snapshot_digest": req.snapshot_digest})
            store.attach_evidence(s, self.ws.audit_writer, asset_type=typ, version=version,
                                  expected_digest=version.digest, kind="promotion_request",
                                  stage="deployment", plugin="lmops-core",
                                  metrics={"to": to, "request_id": req.id},
                                  details=snapshot)
            events: list[DecisionEvent] = []
            if not req.required_approvals:
                events.append(self._promote(s, req, typ, asset, version, actor))
            public = self._public(s, req)
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
            self.ws.audit_writer.record(s, "promotion.expired", req.ref,
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
        with self.ws.db.write() as s:
            who = self._acting(s, f"{'approve' if approve else 'reject'} request {request_id}")
            actor = who.user
            req = self._locked_request(s, request_id)
            if req.status != "pending":
                raise ConflictError(f"request {request_id} is {req.status}, not pending")
            typ, asset, version = req.asset_type, *self._request_subject(s, req)
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
                    self.ws.audit_writer.record(s, "promotion.rejected", req.ref,
                                                after={"request_id": req.id, "by": actor})
                    events[-1] = _event(req, "rejected", actor, comment)
            public = self._public(s, req)
        self._emit(events)
        if invalid is not None:
            raise invalid
        return public

    def _close(self, s: Session, req: ApprovalRequest, status: _Ending, reason: str,
               actor: str) -> DecisionEvent:
        """End a pending request as ``expired`` or ``invalidated``, audited; its event."""
        req.status, req.reason, req.decided_at = status, reason, utcnow()
        s.add(req)
        self.ws.audit_writer.record(s, f"promotion.{status}", req.ref,
                                    after={"request_id": req.id, "reason": reason})
        return _event(req, status, actor, reason)

    def _locked_request(self, s: Session, request_id: str) -> ApprovalRequest:
        q = select(ApprovalRequest).where(col(ApprovalRequest.id) == request_id).with_for_update()
        req: ApprovalRequest | None = s.execute(q).scalars().first()
        if req is None:
            raise NotFoundError(f"approval request {request_id!r} does not exist")
        return req

    def _request_subject(self, s: Session, req: ApprovalRequest) -> tuple[Any, Any]:
        version = store.version_by_id(s, req.asset_type, req.version_id)
        return store.asset_of(s, req.asset_type, version), version

    def _staleness(self, s: Session, req: ApprovalRequest, version: Any
                   ) -> tuple[_Ending, str] | None:
        if utcnow() > _aware(req.expires_at):
            return "expired", f"it expired at {_aware(req.expires_at).isoformat()}"
        if version.digest != req.version_digest:
            return "invalidated", "the version's content changed after the request"
        if version.status == REVALIDATION_REQUIRED:
            return "invalidated", (f"{req.ref} is {REVALIDATION_REQUIRED} (revoked or breached "
                                   "monitoring) and must be revalidated first")
        revoked_at = self._last_revocation(s, req.asset_type, version)
        if revoked_at is not None and revoked_at >= _aware(req.created_at):
            return "invalidated", (f"{req.ref} was revoked at {revoked_at.isoformat()}, after "
                                   "the request was made")
        current = sorted(f.digest for f in self._evidence_facts(s, req.asset_type, version)
                         if f.digest)
        if current != sorted(req.evidence_digests):
            return "invalidated", "the version's evidence changed after the request"
        try:
            digests = self.policies().digests
        except Exception as exc:  # noqa: BLE001 - a broken policy file also invalidates
            return "invalidated", f"the policy files no longer load: {exc}"
        for file, digest in req.policy_digests.items():
            if digests.get(file) != digest:
                return "invalidated", f"policy file {file} changed after the request"
        return None

    def _require_role(self, s: Session, actor: str, allowed: set[str], action: str) -> set[str]:
        held = set(s.execute(select(col(UserRole.role))
                             .where(col(UserRole.user) == actor)).scalars())
        if not held & allowed:
            raise PermissionDeniedError(
                f"{actor!r} may not {action}: it needs one of the roles "
                f"{', '.join(sorted(allowed))} (holds: {', '.join(sorted(held)) or 'none'})")
        return held

    def check_pickle_allowed(self, s: Session, actor: str, risk_tier: str) -> None:
        """Refuse ``allow_pickle`` unless a policy rule (transition ``allow-pickle``) permits
        it for this risk tier and ``actor`` holds one of the roles that rule names."""
        rules = self.policies().select("model", risk_tier, PICKLE_TRANSITION)
        if not rules:
            raise PermissionDeniedError(
                f"no policy rule permits pickle-based files for {risk_tier}-risk models "
                f"(a rule with transition {PICKLE_TRANSITION!r}); convert them to safetensors")
        # Allowing pickle is a decision: the roles are those of a verified identity, not of
        # whatever name the workspace is labelled with.
        who = self._acting(s, f"register pickle-based files for a {risk_tier}-risk model")
        if who.user != actor:
            raise PermissionDeniedError(f"{actor!r} may not register pickle-based files: "
                                        f"the credential presented is {who.user!r}'s")
        for matched in rules:
            roles = {a.role for a in matched.rule.approvals} or {"admin"}
            self._require_role(s, who.user, roles, f"register pickle-based files (policy rule "
                               f"{matched.rule.name})")

    def _record_decision(self, s: Session, req: ApprovalRequest, version: Any, who: Identity,
                         role: str, approve: bool, comment: str) -> None:
        actor = who.user
        reviewer_roles = set(req.required_approvals) or {"validator", "risk_officer", "admin"}
        if role not in reviewer_roles:
            raise PermissionDeniedError(
                f"role {role!r} does not review this request (needs: "
                f"{', '.join(sorted(reviewer_roles))})")
        self._require_role(s, actor, {role}, f"decide request {req.id} as {role}")
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
                      signer_for(who, self.ws.settings.home))
        s.add(ApprovalDecision(request_id=req.id, actor=actor, role=role, decision=decision,
                               comment=comment, created_at=now, statement=signed.statement,
                               signature=signed.signature,
                               key_fingerprint=signed.key_fingerprint, auth_method=who.method))
        s.flush()
        self.ws.audit_writer.record(s, "approval.approve" if approve else "approval.reject",
                                    req.ref, after={"request_id": req.id, "role": role,
                                                    "comment": comment})
        store.attach_evidence(s, self.ws.audit_writer, asset_type=req.asset_type,
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
            evaluation = self._evaluate(s, req.asset_type, asset, version, req.target_stage,
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
        evidence = {f.kind: dict(f.metrics) for f in self._evidence_facts(s, typ, version)}
        context = PromotionContext(request_id=req.id, asset_type=typ,  # type: ignore[arg-type]
                                   ref=req.ref, version_digest=version.digest,
                                   target_stage=req.target_stage, requested_by=req.requested_by,
                                   evidence=evidence)
        vetoes = [v for v in self.ws.plugins.hook.lmops_before_promotion(promotion=context) if v]
        if vetoes:
            req.status, req.decided_at = "rejected", utcnow()
            req.reason = "vetoed by a plugin: " + "; ".join(vetoes)
            s.add(req)
            self.ws.audit_writer.record(s, "promotion.vetoed", req.ref,
                                        after={"request_id": req.id, "vetoes": vetoes})
            return _event(req, "vetoed", actor, req.reason)
        previous = self._holder(s, typ, asset, req.target_stage)
        if previous is not None:
            previous.stage = None
            s.add(previous)
            s.flush()  # leave the stage before the new holder enters it (uq_*_stage)
            self.ws.audit_writer.record(s, "stage.leave",
                                        store.ref_of(s, typ, previous),
                                        before={"stage": req.target_stage}, after={"stage": None})
        version.stage = req.target_stage
        s.add(version)
        req.status, req.decided_at = "approved", utcnow()
        s.add(req)
        s.flush()
        self.ws.audit_writer.record(s, "promotion.complete", req.ref,
                                    before={"stage": None}, after={"stage": req.target_stage,
                                                                   "request_id": req.id})
        store.attach_evidence(s, self.ws.audit_writer, asset_type=typ, version=version,
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
        with self.ws.db.write() as s:
            self._acting(s, f"revoke {ref} from {stage}")
            typ, asset, version = self._resolve(s, ref)
            canonical = store.version_ref(typ, asset.name, version.version)
            if version.stage != stage:
                raise ConflictError(f"{canonical} is not in {stage}")
            self._require_role(s, self.ws.actor, {"risk_officer", "validator", "admin"},
                               f"revoke {canonical}")
            events = self._withdraw(s, typ, version, canonical, stage=stage, reason=reason,
                                    by_policy=False)
        self._emit(events)

    def monitoring_verdict(self, s: Session, typ: str, asset: Any,
                           version: Any) -> PolicyEvaluation:
        """The monitoring rules (``event: monitoring``) judged on ``version`` in its stage now."""
        stage = version.stage
        rules = self.policies().select(typ, getattr(asset, "risk_tier", "standard"), stage,
                                       event="monitoring")
        facts = self._facts(s, typ, asset, version, stage, self.ws.actor)
        return evaluate(rules, facts, now=datetime.now(UTC), functions=self._functions(),
                        policy_required_for=frozenset())

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
        with self.ws.db.write() as s:
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
        self.ws.audit_writer.record(s, action, canonical, before=before, after=after)
        store.attach_evidence(s, self.ws.audit_writer, asset_type=typ, version=version,
                              expected_digest=version.digest, kind="revocation",
                              stage="monitoring", plugin="lmops-core",
                              metrics={"stage": stage or "", "by_policy": by_policy,
                                       "action": "revoke" if stage else REVALIDATION_REQUIRED},
                              details={"reason": reason})
        events = []
        if stage is not None:
            events.append(DecisionEvent(request_id=None, ref=canonical, target_stage=stage,
                                        decision="revoked", actor=self.ws.actor, comment=reason,
                                        status=REVALIDATION_REQUIRED))
        pending = s.execute(select(ApprovalRequest).where(
            col(ApprovalRequest.asset_type) == typ,
            col(ApprovalRequest.version_id) == version.id,
            col(ApprovalRequest.status) == "pending").with_for_update()).scalars().all()
        for req in pending:
            events.append(self._close(s, req, "invalidated",
                                      f"{canonical} was revoked: {reason}", self.ws.actor))
        return events

    def _last_revocation(self, s: Session, typ: str, version: Any) -> datetime | None:
        """When the version was last revoked or marked revalidation-required (None: never)."""
        from lmops_core.registry.models import Evidence

        last = s.execute(select(func.max(Evidence.created_at)).where(
            col(Evidence.subject_type) == typ, col(Evidence.subject_id) == version.id,
            col(Evidence.kind) == "revocation")).scalar_one_or_none()
        return _aware(last) if last is not None else None

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
        with self.ws.db.write() as s:
            actor = self._acting(s, f"revalidate {ref}").user  # a decision: a credential
            typ, asset, version = self._resolve(s, ref)
            canonical = store.version_ref(typ, asset.name, version.version)
            self._require_role(s, actor, set(REVALIDATOR_ROLES), f"revalidate {canonical}")
            if version.status != REVALIDATION_REQUIRED:
                raise ConflictError(f"{canonical} is {version.status}, not "
                                    f"{REVALIDATION_REQUIRED}: there is nothing to revalidate")
            if actor == version.created_by:
                raise PermissionDeniedError(f"{actor!r} authored {canonical} and cannot "
                                            "revalidate it (separation of duties)")
            _require_known_author(s, typ, canonical, version)
            since = self._last_revocation(s, typ, version) or _aware(version.created_at)
            stale = self._kinds_without_new_evidence(s, typ, asset, version, since)
            if stale:
                raise PolicyViolationError(
                    f"{canonical} cannot be revalidated: no evidence recorded after its "
                    f"revocation at {since.isoformat()} for kind(s) {', '.join(stale)}; "
                    "record new evidence for each first", field="ref")
            version.status = "active"
            s.add(version)
            s.flush()
            self.ws.audit_writer.record(s, "promotion.revalidated", canonical,
                                        before={"status": REVALIDATION_REQUIRED},
                                        after={"status": "active", "comment": comment})
            store.attach_evidence(s, self.ws.audit_writer, asset_type=typ, version=version,
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
        policies = self.policies()
        required = {req.kind for stage in GOVERNED_STAGES
                    for matched in policies.select(typ, tier, stage)
                    for req in matched.rule.evidence}
        fresh = {e.kind for e in store.list_evidence(s, typ, version.id)
                 if _aware(e.created_at) > since}
        return sorted(required - fresh)

    def expire_due(self) -> int:
        """Mark pending requests past their expiry as expired; returns how many."""
        with self.ws.db.write() as s:
            due = s.execute(select(ApprovalRequest).where(
                col(ApprovalRequest.status) == "pending",
                col(ApprovalRequest.expires_at) < utcnow()).with_for_update()).scalars().all()
            events = [self._close(s, req, "expired", "request expired", self.ws.actor)
                      for req in due]
        self._emit(events)
        return len(events)

    # -- reading ---------------------------------------------------------------------------

    def list_requests(self, *, status: str | None = None, asset_type: str | None = None,
                      target_stage: str | None = None, limit: int = 50,
                      offset: int = 0) -> Page:
        limit = max(1, min(limit, 500))
        if status and status not in REQUEST_STATUSES:
            raise ValidationError(f"unknown request status {status!r} (expected one of "
                                  f"{', '.join(REQUEST_STATUSES)})", field="status")
        with self.ws.db.read() as s:
            q = _summaries()
            if status:
                q = q.where(col(ApprovalRequest.status) == status)
            if asset_type:
                q = q.where(col(ApprovalRequest.asset_type) == asset_type)
            if target_stage:
                q = q.where(col(ApprovalRequest.target_stage) == target_stage)
            total = s.execute(select(func.count()).select_from(q.subquery())).scalar_one()
            rows = s.execute(q.order_by(col(ApprovalRequest.created_at).desc(),
                                        col(ApprovalRequest.id)).limit(limit).offset(offset)
                             ).scalars()
            reqs = list(rows)
            decisions = self._decisions_for(s, [r.id for r in reqs])
            return Page(items=[self._public(s, r, decisions.get(r.id, [])) for r in reqs],
                        total=total, limit=limit, offset=offset)

    def pending_by_ref(self, asset_type: str, refs: Sequence[str]
                       ) -> dict[str, list[ApprovalRequestPublic]]:
        """The pending requests of the versions ``refs`` name, oldest first, by ref."""
        out: dict[str, list[ApprovalRequestPublic]] = {}
        if not refs:
            return out
        with self.ws.db.read() as s:
            q = _summaries().where(
                col(ApprovalRequest.status) == "pending",
                col(ApprovalRequest.asset_type) == asset_type,
                col(ApprovalRequest.ref).in_(list(refs))).order_by(
                col(ApprovalRequest.created_at), col(ApprovalRequest.id))
            reqs = list(s.execute(q).scalars())
            decisions = self._decisions_for(s, [r.id for r in reqs])
            for req in reqs:
                out.setdefault(req.ref, []).append(
                    self._public(s, req, decisions.get(req.id, [])))
        return out

    def approved_request(self, asset_type: str, ref: str, *, digest: str, stage: str
                         ) -> ApprovalRequestPublic | None:
        """The latest approved request that put exactly this content of ``ref`` into ``stage``.

        A direct query (by version, digest, stage and status), so the answer
        never depends on how many other requests exist.
        """
        with self.ws.db.read() as s:
            q = _summaries().where(
                col(ApprovalRequest.asset_type) == asset_type, col(ApprovalRequest.ref) == ref,
                col(ApprovalRequest.version_digest) == digest,
                col(ApprovalRequest.target_stage) == stage,
                col(ApprovalRequest.status) == "approved").order_by(
                col(ApprovalRequest.decided_at).desc(), col(ApprovalRequest.created_at).desc(),
                col(ApprovalRequest.id)).limit(1)
            req = s.execute(q).scalars().first()
            return self._public(s, req) if req is not None else None

    def get_request(self, request_id: str) -> ApprovalRequestDetail:
        with self.ws.db.read() as s:
            req = s.get(ApprovalRequest, request_id)
            if req is None:
                raise NotFoundError(f"approval request {request_id!r} does not exist")
            asset, version = self._request_subject(s, req)
            holder = self._holder(s, req.asset_type, asset, req.target_stage)
            current = None
            if holder is not None and holder.id != version.id:
                current = {"ref": store.ref_of(s, req.asset_type, holder),
                           "digest": holder.digest,
                           "evidence": {e.kind: e.metrics for e in
                                        store.list_evidence(s, req.asset_type, holder.id)
                                        if e.kind not in GOVERNANCE_KINDS}}
            evidence = [{"kind": e.kind, "metrics": e.metrics, "digest": e.digest,
                         "plugin": e.plugin, "created_at": e.created_at}
                        for e in store.list_evidence(s, req.asset_type, version.id)]
            base = self._public(s, req).model_dump()
            return ApprovalRequestDetail(**base, evaluation=req.evaluation, evidence=evidence,
                                         current_in_stage=current)

    def _decisions_for(self, s: Session, ids: list[str]) -> dict[str, list[ApprovalDecision]]:
        out: dict[str, list[ApprovalDecision]] = {}
        if ids:
            for d in s.execute(select(ApprovalDecision).where(
                    col(ApprovalDecision.request_id).in_(ids)).order_by(
                    col(ApprovalDecision.id))).scalars():
                out.setdefault(d.request_id, []).append(d)
        return out

    def _public(self, s: Session, req: ApprovalRequest,
                decisions: list[ApprovalDecision] | None = None) -> ApprovalRequestPublic:
        if decisions is None:
            decisions = self._decisions_for(s, [req.id]).get(req.id, [])
        approvals = Counter(d.role for d in decisions if d.decision == "approve")
        return ApprovalRequestPublic(
            id=req.id, asset_type=req.asset_type, ref=req.ref, target_stage=req.target_stage,
            requested_by=req.requested_by, status=req.status,
            created_at=_aware(req.created_at), expires_at=_aware(req.expires_at),
            decided_at=_aware(req.decided_at) if req.decided_at else None,
            version_digest=req.version_digest, policy_digests=req.policy_digests,
            required_approvals=req.required_approvals, approvals_so_far=dict(approvals),
            separation_of_duties=req.separation_of_duties, snapshot_digest=req.snapshot_digest,
            reason=req.reason,
            decisions=[DecisionPublic(actor=d.actor, role=d.role, decision=d.decision,
                                      comment=d.comment, created_at=_aware(d.created_at),
                                      auth_method=d.auth_method,
                                      key_fingerprint=d.key_fingerprint,
                                      statement=d.statement, signature=d.signature)
                       for d in decisions])

    def _emit(self, events: Sequence[DecisionEvent]) -> None:
        """Tell every ``lmops_after_decision`` observer, after the commit: the one place.

        Each observer is called on its own; one that raises is logged with its
        plugin's name and the rest still hear of the decision, which stands.
        """
        impls = self.ws.plugins.hook.lmops_after_decision.get_hookimpls()
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


_STAGES = {"data_preparation", "training", "compression", "evaluation", "explainability",
           "deployment", "monitoring"}


def _summaries() -> Select[ApprovalRequest]:
    """Requests without their frozen evaluation and evidence: only the detail view needs them."""
    # SQLModel types a column attribute as its value; on the class it is the mapped attribute.
    evaluation = cast("QueryableAttribute[Any]", ApprovalRequest.evaluation)
    evidence_digests = cast("QueryableAttribute[Any]", ApprovalRequest.evidence_digests)
    return select(ApprovalRequest).options(defer(evaluation), defer(evidence_digests))


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
