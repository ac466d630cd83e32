"""lint(): load errors become issues, and likely mistakes are reported."""

from __future__ import annotations

from lmops_core.policy import lint

BASE = """
apiVersion: lmops/v1
kind: Policy
name: lint-me
rules:
  - name: prod
    applies_to: {asset: model, risk_tiers: [low, standard, high], transition: production}
    evidence:
      - {kind: eval}
    conditions:
      - name: accuracy
        expr: evidence.eval.metrics.acc >= 0.5
    approvals:
      - {role: validator}
"""


def _messages(issues) -> list[tuple[str, str]]:
    return [(i.severity, i.message) for i in issues]


def test_clean_policy_has_no_issues(write_policy) -> None:
    assert lint([write_policy(BASE)]) == []


def test_load_errors_become_issues_with_lines(write_policy) -> None:
    path = write_policy(BASE.replace("{kind: eval}", "{kind: eval, fresh: true}"))
    issues = lint([path.parent])
    assert len(issues) == 1
    assert issues[0].line == 8 and issues[0].rule == "prod" and issues[0].severity == "error"
    assert str(issues[0]).startswith(f"{path}:8: error: rule 'prod': unknown key 'fresh'")


def test_reading_unrequired_evidence_warns_unless_guarded(write_policy) -> None:
    path = write_policy(BASE.replace(">= 0.5", ">= 0.5 && evidence.safety.metrics.x < 1.0"))
    issues = lint([path])
    assert _messages(issues) == [
        (
            "warning",
            "reads evidence.safety but the rule does not require 'safety' evidence "
            "(add it to 'evidence' or guard with has(evidence.safety))",
        )
    ]
    assert issues[0].condition == "accuracy" and issues[0].line == 10
    guarded = BASE.replace(">= 0.5", ">= 0.5 && (!has(evidence.safety) || evidence.safety.x)")
    assert lint([write_policy(guarded)]) == []


def test_unknown_functions_and_namespaces(write_policy) -> None:
    path = write_policy(BASE.replace(">= 0.5", ">= 0.5 && acme.toxic(1.0) && rnd() > 0.1"))
    assert _messages(lint([path])) == [
        ("error", "unknown function 'rnd'"),
        ("error", "unknown function 'toxic'"),
        ("error", "unknown function namespace 'acme'"),
    ]
    assert _messages(lint([path], functions=["acme.toxic", "rnd"])) == []


def test_unknown_evidence_kinds(write_policy) -> None:
    path = write_policy(BASE.replace(">= 0.5", ">= 0.5 && has(evidence.evl)"))
    assert _messages(lint([path], evidence_kinds={"eval"})) == [
        ("error", "reads unknown evidence kind 'evl'")
    ]
    assert _messages(lint([path], evidence_kinds={"safety"})) == [
        ("error", "unknown evidence kind 'eval'"),
        ("error", "reads unknown evidence kind 'eval'"),
        ("error", "reads unknown evidence kind 'evl'"),
    ]


def test_production_without_approvals_and_uncovered_tiers(write_policy) -> None:
    text = BASE.replace("    approvals:\n      - {role: validator}\n", "").replace(
        "[low, standard, high]", "[low, standard]"
    )
    assert _messages(lint([write_policy(text)])) == [
        ("warning", "a rule for production requires no approvals"),
        (
            "warning",
            "no rule governs a high-risk model moving to production; such requests will be blocked",
        ),
    ]


def test_monitoring_rule_without_breach_action(write_policy) -> None:
    text = BASE.replace("transition: production}", "transition: production, event: monitoring}")
    assert _messages(lint([write_policy(text)])) == [
        ("warning", "a monitoring rule sets no on_breach action")
    ]
