"""Plain-text account of an evaluation: each rule, each check, and why."""

from __future__ import annotations

from lmops_core.policy.evaluate import PolicyEvaluation, RuleOutcome
from lmops_core.policy.model import format_duration

_LABELS = {"pass": "PASS", "fail": "FAIL", "missing": "MISSING", "error": "ERROR"}


def explain_text(evaluation: PolicyEvaluation) -> str:
    """Lines of text for the CLI: verdict, then each rule's checks, then what is still needed."""
    verdict = "ALLOWED" if evaluation.allowed else "BLOCKED"
    lines = [f"{evaluation.subject} -> {evaluation.transition}: {verdict}"]
    groups: dict[tuple[str, str], list[RuleOutcome]] = {}
    for outcome in evaluation.outcomes:
        groups.setdefault((outcome.file, outcome.rule), []).append(outcome)
    for (file, rule), outcomes in groups.items():
        if file:
            digest = evaluation.policy_digests.get(file, "")
            lines.append(f"rule {rule} (policy {outcomes[0].policy}, {file}, {digest})")
        else:
            lines.append(f"rule {rule}")
        lines.extend(_outcome_lines(outcome) for outcome in outcomes)
        for outcome in outcomes:
            if outcome.expression is not None and outcome.status != "pass":
                lines.append(f"    {outcome.condition}: {outcome.expression}")
    if evaluation.required_approvals:
        roles = ", ".join(f"{role} x{n}" for role, n in evaluation.required_approvals.items())
        lines.append(f"approvals required: {roles}")
    if evaluation.separation_of_duties:
        lines.append("separation of duties: requester, author and each approver must differ")
    if evaluation.request_ttl is not None:
        lines.append(f"request expires after {format_duration(evaluation.request_ttl)}")
    if evaluation.breach_actions:
        lines.append(f"on breach: {', '.join(evaluation.breach_actions)}")
    return "\n".join(lines)


def _outcome_lines(outcome: RuleOutcome) -> str:
    label = _LABELS[outcome.status]
    if not outcome.blocking and outcome.status != "pass":
        label += " (advisory)"
    text = f"  [{label}] {outcome.condition}"
    return f"{text}: {outcome.message}" if outcome.message else text
