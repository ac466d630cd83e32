"""Judging a request against the matched rules: evidence first, then CEL conditions."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

from lmops_core.errors import ValidationError
from lmops_core.policy.cel_eval import (
    build_context,
    check_functions,
    run_expression,
    to_cel_value,
)
from lmops_core.policy.facts import EvaluationFacts, EvidenceFacts, StageVersionFacts, VersionFacts
from lmops_core.policy.issues import LintIssue
from lmops_core.policy.loader import MatchedRule
from lmops_core.policy.model import (
    Duration,
    EvidenceRequirement,
    RetrainSettings,
    breach_action_name,
    format_duration,
)
from lmops_core.policy.rule_checks import MetricDeclarations, rule_issues

Status = Literal["pass", "fail", "missing", "error"]
CheckKind = Literal["selection", "definition", "evidence", "condition"]

#: Target stages that may not be entered unless at least one rule governs the request.
POLICY_REQUIRED_FOR: frozenset[str] = frozenset({"production", "approved-for-use"})

# Evidence of a kind no requirement names must still be about this very version.
_DEFAULT_REQUIREMENT_FIELDS: dict[str, Any] = {"same_digest": True}


class RuleOutcome(BaseModel):
    """The result of one check of one rule: an evidence requirement or a condition."""

    model_config = ConfigDict(frozen=True)

    policy: str
    file: str
    rule: str
    condition: str
    check: CheckKind
    status: Status
    blocking: bool
    message: str = ""
    expression: str | None = None


class RetrainPlan(BaseModel):
    """The retraining a breached rule asks for: its pipeline file and guard rails."""

    model_config = ConfigDict(frozen=True)

    policy_file: str
    rule: str
    #: The pipeline file, resolved against the policy file's folder.
    pipeline: str
    settings: RetrainSettings


class PolicyEvaluation(BaseModel):
    """Everything the workflow needs to decide and to record a decision."""

    model_config = ConfigDict(frozen=True)

    subject: str
    transition: str
    evaluated_at: datetime
    allowed: bool
    outcomes: list[RuleOutcome]
    required_approvals: dict[str, int]
    separation_of_duties: bool
    require_personal_signature: bool = False
    request_ttl: Duration | None
    policy_digests: dict[str, str]
    breach_actions: list[str]
    #: The retraining pipeline of the first breached rule that names one.
    retrain: RetrainPlan | None = None

    @property
    def blocking(self) -> list[RuleOutcome]:
        """The outcomes that stop the transition."""
        return [o for o in self.outcomes if o.blocking and o.status != "pass"]


def evaluate(
    rules: Sequence[MatchedRule],
    facts: EvaluationFacts,
    *,
    now: datetime,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    policy_required_for: frozenset[str] = POLICY_REQUIRED_FOR,
    roles: Collection[str] | None = None,
    evidence_metrics: MetricDeclarations | None = None,
) -> PolicyEvaluation:
    """Evaluate ``rules`` (from :meth:`PolicySet.select`) against ``facts`` at time ``now``.

    ``functions`` are extra CEL functions (from plugins' ``PolicyCheck``), callable
    by name in expressions. The result is ``allowed`` only if every blocking
    check passes; no rule at all for a target in ``policy_required_for`` blocks.
    With ``roles`` and ``evidence_metrics`` (kind -> declared metrics), a rule
    that asks for an unknown role, has a non-boolean condition or reads a metric
    its kind never records fails closed with a blocking ``definition`` error.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValidationError("evaluation time 'now' must be timezone-aware", field="now")
    checked = check_functions(functions or {})
    outcomes: list[RuleOutcome] = []
    if not rules and facts.transition in policy_required_for:
        outcomes.append(_no_policy(facts))
    breach: set[str] = set()
    retrain: RetrainPlan | None = None
    for matched in rules:
        rule_outcomes = _definition_errors(matched, roles, evidence_metrics)
        rule_outcomes += _evaluate_rule(matched, facts, now, checked)
        if any(o.blocking and o.status != "pass" for o in rule_outcomes):
            breach.update(breach_action_name(item) for item in matched.rule.on_breach)
            retrain = retrain or _retrain_plan(matched)
        outcomes.extend(rule_outcomes)
    approvals: dict[str, int] = {}
    for matched in rules:
        for approval in matched.rule.approvals:
            approvals[approval.role] = max(approvals.get(approval.role, 0), approval.count)
    ttls = [m.rule.request_ttl for m in rules if m.rule.request_ttl is not None]
    return PolicyEvaluation(
        subject=f"{facts.version.asset_type} {facts.version.ref} ({facts.version.digest})",
        transition=facts.transition,
        evaluated_at=now,
        allowed=all(o.status == "pass" for o in outcomes if o.blocking),
        outcomes=outcomes,
        required_approvals=dict(sorted(approvals.items())),
        separation_of_duties=any(m.rule.separation_of_duties for m in rules),
        require_personal_signature=any(m.rule.require_personal_signature for m in rules),
        request_ttl=min(ttls) if ttls else None,
        policy_digests={m.file: m.digest for m in rules},
        breach_actions=sorted(breach),
        retrain=retrain,
    )


def _retrain_plan(matched: MatchedRule) -> RetrainPlan | None:
    settings = matched.rule.retrain
    if settings is None:
        return None
    return RetrainPlan(
        policy_file=matched.file,
        rule=matched.rule.name,
        pipeline=str(Path(matched.file).parent / settings.pipeline),
        settings=settings,
    )


def _no_policy(facts: EvaluationFacts) -> RuleOutcome:
    version = facts.version
    return _outcome(
        None,
        "policy-required",
        "selection",
        "missing",
        True,
        message=f"no policy rule governs a {version.risk_tier}-risk {version.asset_type} moving "
        f"to {facts.transition!r}, and that transition requires one",
    )


def _outcome(
    matched: MatchedRule | None,
    condition: str,
    check: CheckKind,
    status: Status,
    blocking: bool,
    **kw: Any,
) -> RuleOutcome:
    """The outcome of ``condition`` of ``matched``'s rule (``None``: of no rule at all)."""
    where = (
        {"policy": "", "file": "", "rule": "(none)"}
        if matched is None
        else {"policy": matched.policy, "file": matched.file, "rule": matched.rule.name}
    )
    return RuleOutcome(
        **where, condition=condition, check=check, status=status, blocking=blocking, **kw
    )


class _CheckedRule(NamedTuple):
    """A rule's definition errors, with everything they were worked out from."""

    rule: Any
    expressions: tuple[Any, ...]
    roles: tuple[str, ...] | None
    metrics: dict[str, dict[str, Any]] | None
    errors: tuple[LintIssue, ...]


#: Definition errors of rules already checked, by rule identity (see :func:`_rule_errors`).
_CHECKED: dict[tuple[Any, ...], _CheckedRule] = {}
_CHECKED_MAX = 256


def _rule_errors(
    matched: MatchedRule, roles: Collection[str] | None, metrics: MetricDeclarations | None
) -> tuple[LintIssue, ...]:
    """The error issues of ``matched``'s definition (:func:`rule_issues`).

    A loaded policy is kept per file content and never changed (``loader._parsed_policy``),
    so every decision under unchanged files judges the same rule objects: their errors are
    worked out once per rule, compiled expressions, roles and declared metrics, and
    worked out again when any of them is another object or not equal.
    """
    expressions = tuple(matched.expressions.items())
    role_key = None if roles is None else tuple(roles)
    key = (id(matched.rule), matched.file, matched.line, tuple(id(e) for _, e in expressions))
    known = _CHECKED.get(key)
    if (
        known is not None
        and known.rule is matched.rule  # the key's ids are of objects the entry holds
        and known.expressions == expressions
        and known.roles == role_key
        and known.metrics == metrics
    ):
        return known.errors
    errors = tuple(
        issue
        for issue in rule_issues(
            file=matched.file,
            rule=matched.rule,
            expressions=matched.expressions,
            rule_line=matched.line,
            roles=roles,
            metrics=metrics,
        )
        if issue.severity == "error"
    )
    if len(_CHECKED) >= _CHECKED_MAX:
        _CHECKED.clear()
    copied = None if metrics is None else {k: dict(v) for k, v in metrics.items()}
    _CHECKED[key] = _CheckedRule(matched.rule, expressions, role_key, copied, errors)
    return errors


def _definition_errors(
    matched: MatchedRule, roles: Collection[str] | None, metrics: MetricDeclarations | None
) -> list[RuleOutcome]:
    issues = _rule_errors(matched, roles, metrics)
    return [
        _outcome(
            matched,
            issue.condition or "definition",
            "definition",
            "error",
            True,
            message=f"rule is invalid: {issue.message} ({matched.file}"
            f"{'' if issue.line is None else f':{issue.line}'})",
        )
        for issue in issues
    ]


def _evaluate_rule(
    matched: MatchedRule,
    facts: EvaluationFacts,
    now: datetime,
    functions: Mapping[str, Callable[..., Any]],
) -> list[RuleOutcome]:
    rule = matched.rule
    requirements = {req.kind: req for req in rule.evidence}
    chosen = select_evidence(facts.evidence, requirements, facts.version.digest, now)
    outcomes = []

    def outcome(name: str, check: CheckKind, status: Status, blocking: bool, **kw: Any) -> None:
        outcomes.append(_outcome(matched, name, check, status, blocking, **kw))

    for req in rule.evidence:
        found = chosen.get(req.kind)
        if found is None:
            why = _why_no_evidence(facts.evidence, req, facts.version.digest, now)
            outcome(f"evidence:{req.kind}", "evidence", "missing", True, message=why)
        else:
            age = format_age(now - found.created_at)
            source = f" by {found.plugin}" if found.plugin else ""
            message = f"{req.kind} evidence recorded {age} ago{source}"
            outcome(f"evidence:{req.kind}", "evidence", "pass", True, message=message)

    variables = _variables(facts, chosen, now)
    context = build_context(variables, functions)
    for condition in rule.conditions:
        compiled = matched.expressions[condition.name]
        status, reason = run_expression(compiled, context, variables)
        if status == "fail":
            reason = condition.message or "condition is false"
        outcome(
            condition.name,
            "condition",
            status,
            condition.severity == "block",
            message=reason,
            expression=condition.expr,
        )
    return outcomes


def select_evidence(
    evidence: Sequence[EvidenceFacts],
    requirements: Mapping[str, EvidenceRequirement],
    digest: str,
    now: datetime,
) -> dict[str, EvidenceFacts]:
    """The newest usable record of each kind, under each kind's requirement filters."""
    chosen: dict[str, EvidenceFacts] = {}
    for record in evidence:
        requirement = requirements.get(record.kind) or EvidenceRequirement(
            kind=record.kind, **_DEFAULT_REQUIREMENT_FIELDS
        )
        if _rejection(record, requirement, digest, now) is not None:
            continue
        best = chosen.get(record.kind)
        if best is None or record.created_at > best.created_at:
            chosen[record.kind] = record
    return chosen


def _rejection(
    record: EvidenceFacts, req: EvidenceRequirement, digest: str, now: datetime
) -> str | None:
    if req.same_digest and record.subject_digest != digest:
        return "is about another version (same_digest)"
    if req.stage is not None and record.stage != req.stage:
        return f"was not recorded by stage {req.stage.value}"
    if req.plugin is not None and record.plugin != req.plugin:
        return f"was not produced by plugin {req.plugin}"
    if record.created_at > now:
        return "is dated after the evaluation time"
    if req.max_age is not None and now - record.created_at > req.max_age:
        return f"is older than {format_duration(req.max_age)}"
    return None


def _why_no_evidence(
    evidence: Sequence[EvidenceFacts], req: EvidenceRequirement, digest: str, now: datetime
) -> str:
    reasons: dict[str, int] = {}
    for record in evidence:
        if record.kind == req.kind:
            reason = _rejection(record, req, digest, now) or "unusable"
            reasons[reason] = reasons.get(reason, 0) + 1
    if not reasons:
        return f"no {req.kind!r} evidence recorded"
    detail = "; ".join(f"{count} {why}" for why, count in reasons.items())
    total = sum(reasons.values())
    return f"no usable {req.kind!r} evidence: {total} record(s), none usable ({detail})"


def _variables(
    facts: EvaluationFacts, chosen: Mapping[str, EvidenceFacts], now: datetime
) -> dict[str, Any]:
    return {
        "evidence": {kind: _evidence_value(record, now) for kind, record in chosen.items()},
        "version": _version_value(facts.version),
        "current": _stage_value(facts.current, now),
        "production": _stage_value(facts.production, now),
        "request": {"requester": facts.requester, "transition": facts.transition},
        "now": now,
    }


def _evidence_value(record: EvidenceFacts, now: datetime) -> dict[str, Any]:
    value = {
        "kind": record.kind,
        "metrics": to_cel_value(record.metrics, numbers_as_double=True),
        "created_at": record.created_at,
        "age_days": (now - record.created_at).total_seconds() / 86400.0,
        "subject_digest": record.subject_digest,
        "stage": record.stage.value if record.stage is not None else None,
        "plugin": record.plugin,
        "digest": record.digest,
        "actor": record.actor,
        "run_id": record.run_id,
        "paired": record.paired,
    }
    return {key: item for key, item in value.items() if item is not None}


def _version_value(version: VersionFacts) -> dict[str, Any]:
    value = {
        "ref": version.ref,
        "digest": version.digest,
        "asset_type": version.asset_type,
        "risk_tier": version.risk_tier,
        "kind": version.kind,
        "created_by": version.created_by,
        "created_at": version.created_at,
        "metadata": to_cel_value(version.metadata),
        "tags": list(version.tags),
        "target_model": version.target_model,
    }
    return {key: item for key, item in value.items() if item is not None}


def _stage_value(version: StageVersionFacts | None, now: datetime) -> dict[str, Any]:
    # No version in the stage is an empty map, so `has(production.evidence)` is false.
    if version is None:
        return {}
    chosen = select_evidence(version.evidence, {}, version.digest, now)
    value = _version_value(version)
    value["evidence"] = {kind: _evidence_value(rec, now) for kind, rec in chosen.items()}
    return value


def format_age(age: timedelta) -> str:
    """A short human age such as ``3d``, ``5h`` or ``40m``."""
    seconds = max(int(age.total_seconds()), 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
