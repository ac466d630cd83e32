"""Judging a version against a pack: each clause met, not met or not evidenced.

The pack's rules are judged by the policy engine exactly as a promotion would be
(evidence first, then conditions, failing closed); a clause's status is read from
the outcomes of the rules it names and from the sign-offs those rules ask for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, cast

from lmops_core.compliance.loader import CompliancePack
from lmops_core.compliance.model import Clause
from lmops_core.governance.schemas import ApprovalRequestPublic
from lmops_core.policy import EvidenceFacts, MatchedRule, PolicyEvaluation, RuleOutcome
from lmops_core.terms import GovernedStage

ClauseStatus = Literal["met", "not-met", "not-evidenced"]
#: Outcome statuses that show the clause is not met (a failed or broken check).
_NOT_MET = frozenset({"fail", "error"})


class PackJudge(Protocol):
    """What judging a pack asks the governance service (a ``Governance`` is one)."""

    def explain_rules(
        self,
        ref: str,
        rules: Sequence[MatchedRule],
        *,
        to: GovernedStage,
        extra: Sequence[EvidenceFacts] = (),
    ) -> PolicyEvaluation:
        """``rules`` judged on ``ref`` as a request to enter ``to`` now, ``extra`` facts
        beside its evidence."""
        ...


@dataclass(frozen=True)
class ClauseVerdict:
    """One clause's status, the rule outcomes behind it and the sign-offs it still lacks."""

    clause: Clause
    status: ClauseStatus
    outcomes: tuple[RuleOutcome, ...]
    required_approvals: Mapping[str, int]
    missing_approvals: Mapping[str, int]


def judge_pack(
    judge: PackJudge,
    pack: CompliancePack,
    ref: str,
    approved: Sequence[ApprovalRequestPublic] = (),
    *,
    extra: Sequence[EvidenceFacts] = (),
    author: str | None = None,
) -> list[ClauseVerdict]:
    """Every clause of ``pack`` judged on version ``ref``, in the pack's order.

    ``approved`` are the approved requests of this very version; a clause whose
    rules ask for sign-offs that none of them carries is not evidenced. When one of
    those rules keeps ``separation_of_duties`` (the default), a sign-off by the
    version's ``author`` or by the request's requester does not count: the approval
    must be independent of whoever built or asked. ``extra`` are derived facts
    (:mod:`lmops_core.compliance.facts`) judged beside the recorded evidence.
    """
    outcomes: list[RuleOutcome] = []
    by_stage: dict[str, list[MatchedRule]] = {}
    for matched in pack.matched_rules():
        by_stage.setdefault(matched.rule.applies_to.transition, []).append(matched)
    for stage, rules in by_stage.items():
        evaluation = judge.explain_rules(ref, rules, to=cast(GovernedStage, stage), extra=extra)
        outcomes += evaluation.outcomes
    rules_by_name = {rule.name: rule for rule in pack.document.rules}
    verdicts = []
    for clause in pack.clauses:
        mine = tuple(o for o in outcomes if o.rule in clause.rules)
        required: dict[str, int] = {}
        independent = False
        for name in clause.rules:
            rule = rules_by_name[name]
            independent = independent or (rule.separation_of_duties and bool(rule.approvals))
            for approval in rule.approvals:
                required[approval.role] = max(required.get(approval.role, 0), approval.count)
        signed = _signed_roles(approved, author if independent else None, independent)
        missing = {
            role: count - signed.get(role, 0)
            for role, count in sorted(required.items())
            if signed.get(role, 0) < count
        }
        verdicts.append(
            ClauseVerdict(
                clause, _status(mine, missing), mine, dict(sorted(required.items())), missing
            )
        )
    return verdicts


def _status(outcomes: Sequence[RuleOutcome], missing: Mapping[str, int]) -> ClauseStatus:
    blocking = [o for o in outcomes if o.blocking and o.status != "pass"]
    if any(o.status in _NOT_MET for o in blocking):
        return "not-met"
    if blocking or missing:
        return "not-evidenced"
    return "met"


def _signed_roles(
    approved: Sequence[ApprovalRequestPublic], author: str | None, independent: bool
) -> dict[str, int]:
    """The most approvals per role that one approved request of the version carries;
    when ``independent``, approvals by ``author`` or by the request's requester do not
    count, nor does a second approval by one person."""
    best: dict[str, int] = {}
    for request in approved:
        counts: dict[str, int] = {}
        excluded = {author, request.requested_by} if independent else set()
        seen: set[str] = set()
        for decision in request.decisions:
            if decision.decision != "approve" or decision.actor in excluded:
                continue
            if independent and decision.actor in seen:
                continue
            seen.add(decision.actor)
            counts[decision.role] = counts.get(decision.role, 0) + 1
        for role, count in counts.items():
            best[role] = max(best.get(role, 0), count)
    return best


__all__ = ["ClauseStatus", "ClauseVerdict", "PackJudge", "judge_pack"]
