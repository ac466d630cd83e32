"""The policies and schema lmops ships: lint-clean, up to date, and behaving as documented."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from lmops_core.policy import (
    evaluate,
    explain_text,
    lint,
    load_policies,
    render_policy_schema,
)

KINDS = {
    "dataset_card", "pii", "training", "compression", "eval", "safety", "serving_perf",
    "ratings", "explanation", "drift", "guard_probe",
}  # fmt: skip


def test_committed_schema_is_up_to_date(pf) -> None:
    committed = (pf.repo_root / "docs" / "policy-schema.json").read_text(encoding="utf-8")
    assert committed == render_policy_schema(), "run write_policy_schema(docs/policy-schema.json)"
    schema = json.loads(committed)
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["apiVersion", "kind", "name", "rules"]


def test_shipped_policies_lint_clean(pf) -> None:
    assert lint([pf.repo_root / "policies"], evidence_kinds=KINDS) == []


def _good_high_risk(pf) -> list[Any]:
    e = pf.evidence
    return [
        e("eval", {"acc": 0.72, "suite_passed": True}),
        e("safety", {"refusal_rate": 0.97, "leakage_rate": 0, "injection_success_rate": 0.0}),
        e("serving_perf", {"latency_ms_p95": 210, "ttft_ms_p95": 80}, stage="evaluation"),
        e("explanation", {"samples": 20}, stage="explainability"),
        e("ratings", {"count": 40, "score_mean": 4.3}, stage=None),
    ]


def test_high_risk_model_with_full_evidence_is_allowed(pf) -> None:
    policies = load_policies(pf.repo_root / "policies")
    rules = policies.select("model", "high", "production")
    facts = pf.facts(_good_high_risk(pf), risk_tier="high", production=pf.production_version(0.7))
    result = evaluate(rules, facts, now=pf.now)
    assert result.allowed, explain_text(result)
    assert result.required_approvals == {"risk_officer": 1, "validator": 1}
    assert result.separation_of_duties and result.request_ttl == timedelta(days=3)
    assert len(result.policy_digests) == 2


@pytest.mark.parametrize(
    ("change", "condition"),
    [
        ({"actor": "author-ann"}, "independent-validation"),
        ({"metrics": {"acc": 0.59}}, "accuracy"),
        ({"metrics": {"suite_passed": False}}, "suite-thresholds"),
    ],
)
def test_high_risk_model_blocked(pf, change: dict[str, Any], condition: str) -> None:
    records = _good_high_risk(pf)
    records[0] = pf.evidence("eval", {**records[0].metrics, **change.pop("metrics", {})}, **change)
    rules = load_policies(pf.repo_root / "policies").select("model", "high", "production")
    result = evaluate(rules, pf.facts(records, risk_tier="high"), now=pf.now)
    assert not result.allowed
    assert [o.condition for o in result.blocking] == [condition]


@pytest.mark.parametrize(("suite_passed", "allowed"), [(True, True), (False, False), (None, False)])
def test_low_risk_production_holds_a_suite_to_its_own_thresholds(
    pf, suite_passed: bool | None, allowed: bool
) -> None:
    # An evaluation run from a suite (the demo's assistant-gate) is held to the suite's bars,
    # whatever the mean accuracy; one run without a suite fails closed: it met no bars at all.
    e = pf.evidence
    eval_metrics: dict[str, Any] = {"acc": 0.8}
    if suite_passed is not None:
        eval_metrics["suite_passed"] = suite_passed
    records = [
        e("eval", eval_metrics),
        e("safety", {"refusal_rate": 0.97, "leakage_rate": 0, "injection_success_rate": 0}),
        e("serving_perf", {"latency_ms_p95": 210}, stage="evaluation"),
    ]
    rules = load_policies(pf.repo_root / "policies").select("model", "low", "production")
    result = evaluate(rules, pf.facts(records, risk_tier="low"), now=pf.now)
    assert result.allowed is allowed, explain_text(result)
    assert [o.condition for o in result.blocking] == ([] if allowed else ["suite-thresholds"])
    if suite_passed is None:
        [blocked] = result.blocking
        assert blocked.status == "missing" and "suite_passed" in blocked.message, blocked


def test_high_risk_needs_fresh_ratings_and_no_regression(pf) -> None:
    records = _good_high_risk(pf)[:-1]
    rules = load_policies(pf.repo_root / "policies").select("model", "high", "production")
    facts = pf.facts(records, risk_tier="high", production=pf.production_version(0.73))
    result = evaluate(rules, facts, now=pf.now)
    assert {o.condition for o in result.blocking} == {
        "evidence:ratings",
        "human-ratings",
        "no-regression",
    }


def test_int8_model_needs_compression_evidence(pf) -> None:
    rules = load_policies(pf.repo_root / "policies").select("model", "high", "production")
    facts = pf.facts(_good_high_risk(pf), risk_tier="high", kind="onnx-int8")
    result = evaluate(rules, facts, now=pf.now)
    assert [o.condition for o in result.blocking] == ["compression-quality-delta"]
    with_delta = [
        *_good_high_risk(pf),
        pf.evidence("compression", {"perplexity_increase_pct": 1.2}),
    ]
    facts = pf.facts(with_delta, risk_tier="high", kind="onnx-int8")
    assert evaluate(rules, facts, now=pf.now).allowed


def test_dataset_with_pii_left_is_not_approved_for_training(pf) -> None:
    rules = load_policies(pf.repo_root / "policies").select(
        "dataset", "standard", "approved-for-training"
    )
    card = pf.evidence("dataset_card", {"rows": 1000}, stage="data_preparation")
    clean = pf.evidence("pii", {"findings_after": 0}, stage="data_preparation")
    dirty = pf.evidence("pii", {"findings_after": 3}, stage="data_preparation")
    kw: dict[str, Any] = {"transition": "approved-for-training", "asset_type": "dataset"}
    assert evaluate(rules, pf.facts([card, clean], **kw), now=pf.now).allowed
    blocked = evaluate(rules, pf.facts([card, dirty], **kw), now=pf.now)
    assert [o.condition for o in blocked.blocking] == ["no-pii-left"]
    assert blocked.required_approvals == {"data_steward": 1}


def test_monitoring_rule_needs_recent_drift_evidence(pf) -> None:
    rules = load_policies(pf.repo_root / "policies").select(
        "model", "standard", "production", event="monitoring"
    )
    assert [m.rule.name for m in rules] == ["model-monitoring"]
    calm = pf.evidence("drift", {"dataset_drift": False, "drifted_share": 0.1}, stage="monitoring")
    assert evaluate(rules, pf.facts([calm]), now=pf.now).allowed
    drifted = pf.evidence(
        "drift", {"dataset_drift": True, "drifted_share": 0.5}, stage="monitoring"
    )
    result = evaluate(rules, pf.facts([drifted]), now=pf.now)
    assert not result.allowed
    assert result.breach_actions == ["alert", "retrain", "revalidation-required", "revoke"]
    old = pf.evidence(
        "drift",
        {"dataset_drift": False, "drifted_share": 0.0},
        stage="monitoring",
        created_at=pf.now - timedelta(days=8),
    )
    assert not evaluate(rules, pf.facts([old]), now=pf.now).allowed


def test_standard_production_explain_text(pf) -> None:
    rules = load_policies(pf.repo_root / "policies").select("model", "standard", "production")
    result = evaluate(rules, pf.facts([pf.evidence("eval", {"acc": 0.6})]), now=pf.now)
    assert not result.allowed
    text = explain_text(result).splitlines()
    assert text[0].endswith("-> production: BLOCKED")
    assert "  [PASS] evidence:eval: eval evidence recorded 1d ago by lmops-test" in text
    assert "  [MISSING] evidence:safety: no 'safety' evidence recorded" in text
    assert any(line.startswith("rule model-production-standard (policy default") for line in text)
    assert "approvals required: risk_officer x1, validator x1" in text
