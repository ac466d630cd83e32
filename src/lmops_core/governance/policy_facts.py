"""What a policy judges: the policy files, the plugins' checks, and the facts of a version.

:class:`PolicySource` knows where the policy files are and what installed
plugins add (rule checks, the metrics each evidence kind declares); the
functions below read, in one session, the facts a rule is judged on: the
version, its evidence, and the versions now holding the target stage and
production.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlmodel import Session

from lmops_core.contracts import Stage
from lmops_core.governance.models import ROLES
from lmops_core.governance.schemas import aware as aware
from lmops_core.plugins import PluginHost
from lmops_core.policy import (
    EvaluationFacts,
    EvidenceFacts,
    MatchedRule,
    PolicyEvaluation,
    PolicySet,
    StageVersionFacts,
    VersionFacts,
    evaluate,
    functions_from_checks,
    load_policies,
)
from lmops_core.policy.model import Event
from lmops_core.registry import store
from lmops_core.settings import Settings
from lmops_core.terms import GovernedStage

#: Evidence kinds the workflow writes itself (they never invalidate a request), each with
#: the lifecycle stage its records belong to.
GOVERNANCE_KIND_STAGES: dict[str, str] = {
    "promotion_request": "deployment",
    "approval": "deployment",
    "promotion": "deployment",
    "revocation": "monitoring",
    "revalidation": "evaluation",
    "retraining": "training",
}
GOVERNANCE_KINDS = frozenset(GOVERNANCE_KIND_STAGES)
#: The lifecycle stages evidence may record (anything else is shown as no stage).
_LIFECYCLE_STAGES = frozenset(s.value for s in Stage)


class PolicySource:
    """The policy files of a store and what installed plugins add to judging them."""

    def __init__(self, *, settings: Settings, plugins: PluginHost) -> None:
        self.settings = settings
        self.plugins = plugins

    @property
    def policies_dir(self) -> Path:
        """The folder of policy files: the setting, else ``./policies``, else under the home."""
        configured = self.settings.policies_dir
        if configured is not None:
            return configured
        local = Path("policies")
        return local if local.is_dir() else self.settings.home / "policies"

    def policies(self) -> PolicySet:
        """Load every policy file; a broken file raises and so blocks (fail closed)."""
        folder = self.policies_dir.resolve()
        if not folder.is_dir():
            return PolicySet(())  # no policy at all: production requests block (fail closed)
        return load_policies(folder)

    def functions(self) -> dict[str, Any]:
        """The rule checks plugins registered, as functions a condition may call."""
        return functions_from_checks([r.value for r in self.plugins.policy_checks.values()])

    def evidence_metrics(self) -> dict[str, dict[str, str]]:
        """The metrics each registered evidence kind declares (for rule checks)."""
        return self.plugins.metric_types()

    def judge_transition(
        self,
        s: Session,
        asset_type: str,
        asset: Any,
        version: Any,
        target: GovernedStage,
        requester: str,
        *,
        evidence: list[EvidenceFacts] | None = None,
        policies: PolicySet | None = None,
    ) -> PolicyEvaluation:
        """How the rules for ``target`` judge ``version`` now (``requester`` asking).

        ``evidence`` is the version's :func:`evidence_facts` when the caller has just
        read them in ``s`` (they are read otherwise); ``policies`` the policy files when
        the caller has just loaded them (loaded otherwise)."""
        return self._judge(
            s,
            (asset_type, asset, version),
            target,
            requester,
            "promotion",
            evidence=evidence,
            policies=policies,
            roles=ROLES,
            evidence_metrics=self.evidence_metrics(),
        )

    def judge_rules(
        self,
        s: Session,
        subject: tuple[str, Any, Any],
        rules: Sequence[MatchedRule],
        target: GovernedStage,
        requester: str,
        *,
        extra: Sequence[EvidenceFacts] = (),
    ) -> PolicyEvaluation:
        """``rules`` (a compliance pack's, not the policy folder's) judged on ``subject``
        (asset type, asset, version) as if it were entering ``target`` now, with the
        ``extra`` facts beside the version's own evidence."""
        asset_type, _, version = subject
        recorded = evidence_facts(s, asset_type, version, judged_pair(asset_type, version))
        facts = evaluation_facts(s, subject, target, requester, evidence=[*recorded, *extra])
        return evaluate(
            rules,
            facts,
            now=datetime.now(UTC),
            functions=self.functions(),
            policy_required_for=frozenset(),
            roles=ROLES,
            evidence_metrics=self.evidence_metrics(),
        )

    def judge_monitoring(
        self, s: Session, asset_type: str, asset: Any, version: Any, actor: str
    ) -> PolicyEvaluation:
        """The monitoring rules (``event: monitoring``) judged on ``version`` in its stage now."""
        subject = (asset_type, asset, version)
        return self._judge(
            s, subject, version.stage, actor, "monitoring", policy_required_for=frozenset()
        )

    def _judge(
        self,
        s: Session,
        subject: tuple[str, Any, Any],
        stage: GovernedStage,
        actor: str,
        event: Event,
        evidence: list[EvidenceFacts] | None = None,
        policies: PolicySet | None = None,
        **options: Any,
    ) -> PolicyEvaluation:
        """The rules of ``event`` for ``stage`` judged on ``subject`` (asset type, asset,
        version) now, under ``policies`` (default: loaded now); ``options`` go to
        :func:`~lmops_core.policy.evaluate`."""
        asset_type, asset, version = subject
        tier = getattr(asset, "risk_tier", "standard")
        rules = (policies if policies is not None else self.policies()).select(
            asset_type, tier, stage, event=event
        )
        facts = evaluation_facts(s, subject, stage, actor, evidence=evidence)
        return evaluate(rules, facts, now=datetime.now(UTC), functions=self.functions(), **options)


def judged_pair(asset_type: str, version: Any) -> int | None:
    """Which evidence of a version a rule looks at, as :func:`store.list_evidence`'s ``paired``.

    Every record of a model, dataset or suite; of a prompt version, only what was measured
    with the model version it targets (nothing paired when it targets none), so a prompt is
    judged, and compared with the prompt in production, on one model version.
    """
    if asset_type != "prompt":
        return store.ANY_PAIR
    target: int | None = version.target_model_version_id
    return target


def evidence_facts(
    s: Session, asset_type: str, version: Any, paired: int | None = store.ANY_PAIR
) -> list[EvidenceFacts]:
    """The evidence of ``version`` a rule may look at (not the workflow's own records);
    ``paired`` as :func:`store.list_evidence` takes it."""
    return facts_of(s, store.list_evidence(s, asset_type, version.id, paired=paired))


def facts_of(s: Session, records: Sequence[Any]) -> list[EvidenceFacts]:
    """What a rule may look at of the evidence ``records`` (read by the caller): all but
    the workflow's own records."""
    out = []
    for e in records:
        if e.kind in GOVERNANCE_KINDS:
            continue
        pair = e.paired_model_version_id
        out.append(
            EvidenceFacts(
                kind=e.kind,
                subject_digest=e.subject_digest,
                metrics=e.metrics,
                created_at=aware(e.created_at),
                stage=e.stage if e.stage in _LIFECYCLE_STAGES else None,
                plugin=e.plugin,
                digest=e.digest,
                actor=e.created_by,
                run_id=e.run_id,
                paired=None if pair is None else _model_ref(s, pair),
            )
        )
    return out


def _model_ref(s: Session, version_id: int) -> str:
    return store.ref_of(s, "model", store.version_by_id(s, "model", version_id))


def version_facts(
    s: Session,
    asset_type: str,
    asset: Any,
    version: Any,
    cls: type[VersionFacts] = VersionFacts,
    **extra: Any,
) -> Any:
    """The facts of one version, as ``cls`` (``StageVersionFacts`` adds its evidence)."""
    kind = getattr(version, "kind", None) or getattr(version, "shape", None)
    target = getattr(version, "target_model_version_id", None)
    return cls(
        ref=store.version_ref(asset_type, asset.name, version.version),
        digest=version.digest,
        asset_type=asset_type,
        risk_tier=getattr(asset, "risk_tier", "standard"),
        kind=kind,
        created_by=version.created_by,
        created_at=aware(version.created_at),
        metadata=dict(version.meta),
        tags=[f"{k}={v}" if v else k for k, v in store.tags_of(s, asset_type, version.id).items()],
        target_model=None if target is None else _model_ref(s, target),
        **extra,
    )


@functools.cache
def _holder_query(asset_type: str) -> Select[Any]:
    # Built once per asset type: it runs in every evaluation, often twice.
    _, version_cls, fk = store.asset_classes(asset_type)
    return select(version_cls).where(
        getattr(version_cls, fk) == bindparam("asset_id"), version_cls.stage == bindparam("stage")
    )


def stage_holder(s: Session, asset_type: str, asset: Any, stage: GovernedStage) -> Any | None:
    """The version of ``asset`` in the governed ``stage`` now, or ``None``."""
    query = _holder_query(asset_type)
    return s.execute(query, {"asset_id": asset.id, "stage": stage}).scalars().first()


def _holder_facts(s: Session, asset_type: str, asset: Any, holder: Any, paired: int | None) -> Any:
    return version_facts(
        s,
        asset_type,
        asset,
        holder,
        StageVersionFacts,
        evidence=evidence_facts(s, asset_type, holder, paired),
    )


def evaluation_facts(
    s: Session,
    subject: tuple[str, Any, Any],
    target: GovernedStage,
    requester: str,
    *,
    evidence: list[EvidenceFacts] | None = None,
) -> EvaluationFacts:
    """Everything the rules for ``target`` are judged on, read in session ``s``: the
    ``subject`` (asset type, asset, version) and its evidence facts (unless given as
    ``evidence``), the versions in ``target`` and in production.

    The versions holding ``target`` and production are judged on evidence measured with
    the same model version as ``version`` (:func:`judged_pair`), so a prompt is compared
    with the prompt in production on the model it targets.
    """
    asset_type, asset, version = subject
    pair = judged_pair(asset_type, version)
    holder = stage_holder(s, asset_type, asset, target)
    current = None
    if holder is not None and holder.id != version.id:
        current = _holder_facts(s, asset_type, asset, holder, pair)
    production = current if target == "production" else None
    if target != "production":
        prod = stage_holder(s, asset_type, asset, "production")
        if prod is not None and prod.id != version.id:
            production = _holder_facts(s, asset_type, asset, prod, pair)
    return EvaluationFacts(
        version=version_facts(s, asset_type, asset, version),
        transition=target,
        requester=requester,
        evidence=evidence if evidence is not None else evidence_facts(s, asset_type, version, pair),
        current=current,
        production=production,
    )


__all__ = [
    "GOVERNANCE_KINDS",
    "GOVERNANCE_KIND_STAGES",
    "PolicySource",
    "aware",
    "evaluation_facts",
    "evidence_facts",
    "facts_of",
    "judged_pair",
    "stage_holder",
    "version_facts",
]
