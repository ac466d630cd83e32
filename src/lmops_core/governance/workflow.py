"""The model-risk approval workflow: the only way a version enters a governed stage.

:class:`Governance` is the service the SDK, the CLI and the admin API all call;
nothing else sets a stage. It is put together from parts, one job each:
:mod:`~lmops_core.governance.policy_facts` (the policy files and the facts a
rule judges), :mod:`~lmops_core.governance.access` (user roles and tokens),
:mod:`~lmops_core.governance.promotion` (requests and decisions),
:mod:`~lmops_core.governance.revocation` (revocation, breaches, revalidation)
and :mod:`~lmops_core.governance.views` (reading requests).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlmodel import Session

from lmops_core.errors import PermissionDeniedError
from lmops_core.governance.access import Access, require_role
from lmops_core.governance.decisions import REVALIDATION_REQUIRED as REVALIDATION_REQUIRED
from lmops_core.governance.decisions import GovernancePart, check_target_stage, resolve_version
from lmops_core.governance.identity import Identity
from lmops_core.governance.policy_facts import PolicySource
from lmops_core.governance.promotion import Promotions
from lmops_core.governance.revocation import Revocations
from lmops_core.governance.schemas import ApprovalRequestPublic, Principal
from lmops_core.governance.views import RequestViews
from lmops_core.plugins import PluginHost
from lmops_core.policy import EvidenceFacts, MatchedRule, PolicyEvaluation, PolicySet
from lmops_core.registry.db import Database
from lmops_core.registry.store import AuditWriter
from lmops_core.terms import GovernedStage, UserRoleName
from lmops_core.validation import checked_public
from lmops_core.vocabulary import GOVERNED_STAGES as GOVERNED_STAGES

#: The policy transition whose rules say who may register pickle-based model files.
PICKLE_TRANSITION = "allow-pickle"


@checked_public  # every argument checked before it nears the database (lmops_core.validation)
class Governance(GovernancePart, RequestViews):
    """Policies, roles, tokens and promotion requests of one store, as one identity.

    It takes what it uses: the database, the identity acting and its audit
    writer, the policy source, the plugin host (for the promotion and decision
    hooks) and the home folder (for the server's signing key). Its parts do the
    work; their public methods are offered here, as the SDK always did. Reading
    requests needs nothing but the database, so those methods are inherited from
    :class:`~lmops_core.governance.views.RequestViews` as they are.
    """

    def __init__(
        self,
        *,
        db: Database,
        identity: Identity,
        audit: AuditWriter,
        policy_source: PolicySource,
        plugins: PluginHost,
        home: Path,
    ) -> None:
        super().__init__(
            db=db,
            identity=identity,
            audit=audit,
            access=Access(db=db, identity=identity, audit=audit),
            policy_source=policy_source,
            plugins=plugins,
            home=home,
        )
        self.promotions = Promotions.sharing(self)
        self.revocations = Revocations.sharing(self)

    # -- policies ---------------------------------------------------------------------

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

    def explain(self, ref: str, *, to: GovernedStage) -> PolicyEvaluation:
        """Dry run: how the policy judges promoting ``ref`` to ``to`` right now."""
        check_target_stage(to)
        with self.db.read() as s:
            parsed_type, asset, version = resolve_version(s, ref)
            return self.policy_source.judge_transition(
                s, parsed_type, asset, version, to, self.identity.user
            )

    def explain_rules(
        self,
        ref: str,
        rules: Sequence[MatchedRule],
        *,
        to: GovernedStage,
        extra: Sequence[EvidenceFacts] = (),
    ) -> PolicyEvaluation:
        """Dry run of ``rules`` given by the caller (a compliance pack's) on ``ref``, judged
        as a request to enter ``to`` now; no rule at all is not an error here. ``extra`` are
        facts the caller derived from the store (a pack's audit-log and training-data facts),
        judged beside the version's recorded evidence."""
        check_target_stage(to)
        with self.db.read() as s:
            subject = resolve_version(s, ref)
            return self.policy_source.judge_rules(
                s, subject, rules, to, self.identity.user, extra=extra
            )

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

    def create_token(
        self, user: str, *, role: UserRoleName | None = None, description: str = ""
    ) -> str:
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

    # -- requests and decisions (lmops_core.governance.promotion) ----------------------

    def request_promotion(self, ref: str, *, to: GovernedStage) -> ApprovalRequestPublic:
        """Ask to promote ``ref`` into stage ``to``; refused at once if hard gates fail."""
        return self.promotions.request_promotion(ref, to=to)

    def decide(
        self, request_id: str, *, approve: bool, role: UserRoleName, comment: str
    ) -> ApprovalRequestPublic:
        """Approve or reject a pending request as ``role``, with a mandatory comment."""
        return self.promotions.decide(request_id, approve=approve, role=role, comment=comment)

    def expire_due(self) -> int:
        """Mark pending requests past their expiry as expired; returns how many."""
        return self.promotions.expire_due()

    # -- revocation and revalidation (lmops_core.governance.revocation) -----------------

    def revoke(self, ref: str, *, stage: GovernedStage, reason: str) -> None:
        """Take a version out of a stage (monitoring breach, incident); audited."""
        self.revocations.revoke(ref, stage=stage, reason=reason)

    def monitoring_verdict(
        self, s: Session, typ: str, asset: Any, version: Any
    ) -> PolicyEvaluation:
        """The monitoring rules (``event: monitoring``) judged on ``version`` in its stage now."""
        return self.revocations.monitoring_verdict(s, typ, asset, version)

    def apply_breach(self, ref: str, *, action: str) -> list[str]:
        """Take ``action`` (``revalidation-required`` or ``revoke``) because the policy says so."""
        return self.revocations.apply_breach(ref, action=action)

    def revalidate(self, ref: str, *, comment: str) -> None:
        """Clear ``revalidation-required``: a validator's explicit, audited decision."""
        self.revocations.revalidate(ref, comment=comment)

    # -- registration rules --------------------------------------------------------------

    def check_pickle_allowed(self, s: Session, actor: str, risk_tier: str) -> None:
        """Refuse ``allow_pickle`` unless a policy rule (transition ``allow-pickle``) permits
        it for this risk tier and ``actor`` holds one of the roles that rule names."""
        rules = self.policy_source.policies().select("model", risk_tier, PICKLE_TRANSITION)
        if not rules:
            raise PermissionDeniedError(
                f"no policy rule permits pickle-based files for {risk_tier}-risk models "
                f"(a rule with transition {PICKLE_TRANSITION!r}); convert them to safetensors"
            )
        # Allowing pickle is a decision: the roles are those of a verified identity, not of
        # whatever name the workspace is labelled with.
        who = self.access.acting(s, f"register pickle-based files for a {risk_tier}-risk model")
        if who.user != actor:
            raise PermissionDeniedError(
                f"{actor!r} may not register pickle-based files: "
                f"the credential presented is {who.user!r}'s"
            )
        for matched in rules:
            roles = {a.role for a in matched.rule.approvals} or {"admin"}
            require_role(
                s, who.user, roles, f"register pickle-based files (policy rule {matched.rule.name})"
            )


__all__ = ["GOVERNED_STAGES", "PICKLE_TRANSITION", "REVALIDATION_REQUIRED", "Governance"]
