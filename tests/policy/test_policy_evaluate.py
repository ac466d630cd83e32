"""Evaluating rules against facts: every way of failing closed, and the merged result."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError as PydanticValidationError

from lmops_core.contracts import PolicyCheck
from lmops_core.errors import ValidationError
from lmops_core.policy import (
    PolicyEvaluation,
    evaluate,
    explain_text,
    functions_from_checks,
    load_policies,
)

POLICY = """
apiVersion: lmops/v1
kind: Policy
name: test
rules:
  - name: prod
    applies_to: {asset: model, transition: production}
    evidence:
      - {kind: eval, stage: evaluation, max_age: 30d}
    conditions:
      - name: accuracy
        expr: >-
          evidence.eval.metrics.acc >= 0.55
        message: accuracy below the bar
"""


def _run(write_policy, pf, text: str, records, **kw) -> PolicyEvaluation:
    path: Path = write_policy(text)
    facts_kw = {k: kw.pop(k) for k in list(kw) if k in ("production", "transition", "kind")}
    facts = pf.facts(records, **facts_kw)
    rules = load_policies(path.parent).select("model", facts.version.risk_tier, facts.transition)
    return evaluate(rules, facts, now=pf.now, **kw)


def _condition(text: str) -> str:
    return POLICY.replace("evidence.eval.metrics.acc >= 0.55", text)


def _status(result: PolicyEvaluation, name: str) -> tuple[str, str]:
    found = [o for o in result.outcomes if o.condition == name]
    assert len(found) == 1, result.outcomes
    return found[0].status, found[0].message


def test_passing_evidence_and_condition(write_policy, pf) -> None:
    result = _run(write_policy, pf, POLICY, [pf.evidence("eval", {"acc": 0.6})])
    assert result.allowed
    assert [(o.condition, o.status) for o in result.outcomes] == [
        ("evidence:eval", "pass"),
        ("accuracy", "pass"),
    ]
    assert result.policy_digests and all(
        d.startswith("sha256:") for d in result.policy_digests.values()
    )


def test_failing_condition_blocks_with_its_message(write_policy, pf) -> None:
    result = _run(write_policy, pf, POLICY, [pf.evidence("eval", {"acc": 0.5})])
    assert not result.allowed
    assert _status(result, "accuracy") == ("fail", "accuracy below the bar")
    text = explain_text(result)
    assert "BLOCKED" in text
    assert "[FAIL] accuracy: accuracy below the bar" in text
    assert "accuracy: evidence.eval.metrics.acc >= 0.55" in text


def test_missing_evidence_is_missing_not_pass(write_policy, pf) -> None:
    result = _run(write_policy, pf, POLICY, [])
    assert not result.allowed
    assert _status(result, "evidence:eval") == ("missing", "no 'eval' evidence recorded")
    status, message = _status(result, "accuracy")
    assert status == "missing"
    assert "no usable 'eval' evidence" in message


def test_missing_metric_is_missing(write_policy, pf) -> None:
    result = _run(write_policy, pf, POLICY, [pf.evidence("eval", {"f1": 0.9})])
    assert not result.allowed
    assert _status(result, "accuracy") == ("missing", "evidence.eval.metrics has no metric 'acc'")


def test_type_mismatch_is_an_error(write_policy, pf) -> None:
    result = _run(write_policy, pf, POLICY, [pf.evidence("eval", {"acc": "high"})])
    assert not result.allowed
    status, message = _status(result, "accuracy")
    assert status == "error" and message.startswith("type mismatch")


def test_division_by_zero_is_an_error(write_policy, pf) -> None:
    text = _condition("evidence.eval.metrics.acc / 0.0 > 1.0 || 1 / 0 == 1")
    result = _run(write_policy, pf, text, [pf.evidence("eval", {"acc": 0.0})])
    assert not result.allowed
    assert _status(result, "accuracy")[0] == "error"


def test_non_bool_result_is_an_error(write_policy, pf) -> None:
    result = _run(
        write_policy,
        pf,
        _condition("evidence.eval.metrics.acc"),
        [pf.evidence("eval", {"acc": 0.9})],
    )
    assert not result.allowed
    assert _status(result, "accuracy") == ("error", "expression returned float 0.9, not a bool")


def test_non_finite_metric_counts_as_missing(write_policy, pf) -> None:
    # NaN compares false both ways, so `!(acc < 0.55)` would otherwise pass.
    text = _condition("!(evidence.eval.metrics.acc < 0.55)")
    result = _run(write_policy, pf, text, [pf.evidence("eval", {"acc": float("nan")})])
    assert not result.allowed
    assert _status(result, "accuracy")[0] == "missing"


def test_integer_metrics_work_in_double_arithmetic(write_policy, pf) -> None:
    text = _condition("evidence.eval.metrics.acc - 0.5 >= 0.5 && evidence.eval.metrics.acc >= 1")
    result = _run(write_policy, pf, text, [pf.evidence("eval", {"acc": 1})])
    assert result.allowed, result.outcomes


def test_unknown_function_and_failing_plugin_function_are_errors(write_policy, pf) -> None:
    text = _condition("acme.toxicity(evidence.eval.metrics.acc) < 0.1")
    records = [pf.evidence("eval", {"acc": 0.7})]
    result = _run(write_policy, pf, text, records)
    assert not result.allowed
    assert _status(result, "accuracy")[0] == "error"

    def broken(value: float) -> float:
        raise RuntimeError("scorer offline")

    result = _run(write_policy, pf, text, records, functions={"acme.toxicity": broken})
    assert not result.allowed
    status, message = _status(result, "accuracy")
    assert status == "error" and "acme.toxicity" in message


def test_plugin_function_from_policy_check(write_policy, pf) -> None:
    text = _condition("acme.toxicity(evidence.eval.metrics.acc) < 0.1")
    check = PolicyCheck(name="acme.toxicity", function=lambda value: 1.0 - value)
    functions = functions_from_checks([check])
    ok = _run(write_policy, pf, text, [pf.evidence("eval", {"acc": 0.95})], functions=functions)
    bad = _run(write_policy, pf, text, [pf.evidence("eval", {"acc": 0.5})], functions=functions)
    assert ok.allowed and not bad.allowed


def test_plugin_function_may_not_shadow_a_variable(write_policy, pf) -> None:
    with pytest.raises(ValidationError, match="would shadow the variable 'evidence'"):
        _run(write_policy, pf, POLICY, [], functions={"evidence.fake": lambda: True})
    with pytest.raises(ValidationError, match="registered twice"):
        functions_from_checks([PolicyCheck("a.b", abs), PolicyCheck("a.b", abs)])


def test_no_rule_for_production_blocks(pf) -> None:
    result = evaluate([], pf.facts([pf.evidence("eval", {"acc": 0.9})]), now=pf.now)
    assert not result.allowed
    assert result.outcomes[0].status == "missing"
    assert "no policy rule governs a standard-risk model" in result.outcomes[0].message


def test_no_rule_for_staging_is_allowed_by_default(pf) -> None:
    facts = pf.facts([], transition="staging")
    assert evaluate([], facts, now=pf.now).allowed
    required = frozenset({"production", "staging"})
    assert not evaluate([], facts, now=pf.now, policy_required_for=required).allowed


NO_REGRESSION = _condition(
    "!has(production.evidence) "
    "|| evidence.eval.metrics.acc >= production.evidence.eval.metrics.acc - 0.01"
)


def test_no_regression_against_production(write_policy, pf) -> None:
    records = [pf.evidence("eval", {"acc": 0.70})]
    first = _run(write_policy, pf, NO_REGRESSION, records)
    assert first.allowed
    better = _run(write_policy, pf, NO_REGRESSION, records, production=pf.production_version(0.705))
    assert better.allowed
    worse = _run(write_policy, pf, NO_REGRESSION, records, production=pf.production_version(0.75))
    assert not worse.allowed
    assert _status(worse, "accuracy")[0] == "fail"


def test_no_regression_when_production_has_no_eval_is_missing(write_policy, pf) -> None:
    production = pf.production_version(0.7)
    production["evidence"] = []
    records = [pf.evidence("eval", {"acc": 0.7})]
    result = _run(write_policy, pf, NO_REGRESSION, records, production=production)
    assert not result.allowed
    status, message = _status(result, "accuracy")
    assert status == "missing" and "no usable 'eval' evidence for production" in message


def test_same_digest_filters_evidence_of_other_versions(write_policy, pf) -> None:
    records = [pf.evidence("eval", {"acc": 0.9}, subject_digest=pf.other_digest)]
    result = _run(write_policy, pf, POLICY, records)
    assert not result.allowed
    status, message = _status(result, "evidence:eval")
    assert status == "missing" and "1 is about another version (same_digest)" in message
    relaxed = POLICY.replace("max_age: 30d}", "max_age: 30d, same_digest: false}")
    assert _run(write_policy, pf, relaxed, records).allowed


def test_max_age_uses_now(write_policy, pf) -> None:
    stale = [pf.evidence("eval", {"acc": 0.9}, created_at=pf.now - timedelta(days=31))]
    result = _run(write_policy, pf, POLICY, stale)
    assert not result.allowed
    assert "1 is older than 30d" in _status(result, "evidence:eval")[1]
    fresh = [pf.evidence("eval", {"acc": 0.9}, created_at=pf.now - timedelta(days=29))]
    assert _run(write_policy, pf, POLICY, fresh).allowed
    future = [pf.evidence("eval", {"acc": 0.9}, created_at=pf.now + timedelta(hours=1))]
    assert (
        "dated after the evaluation time"
        in _status(_run(write_policy, pf, POLICY, future), "evidence:eval")[1]
    )


def test_stage_filter_and_newest_record_wins(write_policy, pf) -> None:
    wrong_stage = [pf.evidence("eval", {"acc": 0.9}, stage="training")]
    assert not _run(write_policy, pf, POLICY, wrong_stage).allowed
    records = [
        pf.evidence("eval", {"acc": 0.9}, created_at=pf.now - timedelta(days=5)),
        pf.evidence("eval", {"acc": 0.4}, created_at=pf.now - timedelta(days=1)),
    ]
    result = _run(write_policy, pf, POLICY, records)
    assert not result.allowed  # the newer, worse evaluation counts


def test_warn_condition_does_not_block(write_policy, pf) -> None:
    text = POLICY + "        severity: warn\n"
    result = _run(write_policy, pf, text, [pf.evidence("eval", {"acc": 0.1})])
    assert result.allowed
    assert _status(result, "accuracy")[0] == "fail"
    assert "[FAIL (advisory)] accuracy" in explain_text(result)


def test_approvals_merge_max_per_role_and_strictest_ttl(write_policy, pf, tmp_path) -> None:
    write_policy(
        POLICY + "    approvals: [{role: validator, count: 1}, {role: risk_officer, count: 1}]\n"
        "    request_ttl: 7d\n"
        "    separation_of_duties: false\n"
    )
    write_policy(
        POLICY.replace("name: test", "name: extra").replace("name: prod", "name: prod2")
        + "    approvals: [{role: validator, count: 2}]\n"
        "    request_ttl: 3d\n"
        "    on_breach: [alert]\n",
        name="extra.yaml",
    )
    policies = load_policies(tmp_path)
    rules = policies.select("model", "standard", "production")
    assert len(rules) == 2
    result = evaluate(rules, pf.facts([pf.evidence("eval", {"acc": 0.9})]), now=pf.now)
    assert result.allowed
    assert result.required_approvals == {"risk_officer": 1, "validator": 2}
    assert result.request_ttl == timedelta(days=3)
    assert result.separation_of_duties is True
    assert set(result.policy_digests) == {
        str(tmp_path / "policy.yaml"),
        str(tmp_path / "extra.yaml"),
    }
    assert result.breach_actions == []
    failing = evaluate(rules, pf.facts([pf.evidence("eval", {"acc": 0.1})]), now=pf.now)
    assert failing.breach_actions == ["alert"]
    text = explain_text(result)
    assert "approvals required: risk_officer x1, validator x2" in text
    assert "request expires after 3d" in text
    assert result.model_dump(mode="json")["request_ttl"] == "3d"


def test_variables_version_request_and_now(write_policy, pf) -> None:
    text = _condition(
        "version.ref == 'acme-chat@2' && request.requester == 'requester-rob' "
        "&& request.transition == 'production' && evidence.eval.actor != version.created_by "
        "&& now - evidence.eval.created_at < duration('48h') && evidence.eval.age_days < 2.0"
    )
    assert _run(write_policy, pf, text, [pf.evidence("eval", {"acc": 0.9})]).allowed
    own = [pf.evidence("eval", {"acc": 0.9}, actor="author-ann")]
    assert not _run(write_policy, pf, text, own).allowed
    unknown_actor = [pf.evidence("eval", {"acc": 0.9}, actor=None)]
    result = _run(write_policy, pf, text, unknown_actor)
    assert _status(result, "accuracy") == ("missing", "evidence.eval has no field 'actor'")


def test_naive_now_and_bad_facts_are_refused(pf) -> None:
    with pytest.raises(ValidationError, match="timezone-aware"):
        evaluate([], pf.facts([]), now=pf.now.replace(tzinfo=None))
    with pytest.raises(PydanticValidationError, match="invalid digest"):
        pf.evidence("eval", {}, subject_digest="md5:abc")
    with pytest.raises(PydanticValidationError, match="Extra inputs"):
        pf.facts([], colour="red")


def test_current_and_production_must_agree_for_production(pf) -> None:
    other = pf.production_version(0.5)
    same = pf.facts([], production=other)
    assert same.current == same.production
    with pytest.raises(PydanticValidationError, match="must be the same version"):
        type(same).model_validate(
            {
                **same.model_dump(),
                "current": {**other, "digest": pf.other_digest},
            }
        )


def test_dotted_metric_names_by_index(write_policy, pf) -> None:
    text = _condition("evidence.eval.metrics['hellaswag.acc'] >= 0.3")
    ok = _run(write_policy, pf, text, [pf.evidence("eval", {"hellaswag.acc": 0.31})])
    assert ok.allowed
    missing = _run(write_policy, pf, text, [pf.evidence("eval", {"acc": 0.31})])
    assert _status(missing, "accuracy") == (
        "missing",
        "evidence.eval.metrics has no metric 'hellaswag.acc'",
    )


def test_definition_errors_follow_the_roles_and_metrics_of_each_evaluation(
    write_policy, pf
) -> None:
    """A rule's definition is checked once per rule object, roles and declared metrics: the
    same loaded rule judged again under other roles or metrics gets their verdict."""
    path: Path = write_policy(
        POLICY.replace("accuracy below", "x").rstrip() + "\n"
        "    approvals:\n      - {role: validator, count: 1}\n"
    )
    facts = pf.facts([pf.evidence("eval", {"acc": 0.6})])
    rules = load_policies(path.parent).select("model", "standard", "production")

    def definition(**kw: object) -> list[str]:
        result = evaluate(rules, facts, now=pf.now, **kw)  # type: ignore[arg-type]
        return [o.message for o in result.outcomes if o.check == "definition"]

    declared = {"eval": {"acc": "number"}}
    assert definition(roles=("validator",), evidence_metrics=declared) == []
    # Other roles: the approval's role no longer exists.
    assert "does not exist" in definition(roles=("admin",), evidence_metrics=declared)[0]
    # Other metrics, in a new dict and in the same dict changed in place.
    assert definition(roles=("validator",), evidence_metrics={"eval": {"f1": "number"}})
    declared["eval"] = {"f1": "number"}
    assert definition(roles=("validator",), evidence_metrics=declared)
    declared["eval"] = {"acc": "number"}
    assert definition(roles=("validator",), evidence_metrics=declared) == []
    # The same file loaded again is the same rule object; an edited file is a new one.
    write_policy(
        POLICY.replace("accuracy below", "x").rstrip() + "\n"
        "    approvals:\n      - {role: risk_officer, count: 1}\n"
    )
    edited = load_policies(path.parent).select("model", "standard", "production")
    result = evaluate(edited, facts, now=pf.now, roles=("validator",), evidence_metrics=declared)
    assert [o.check for o in result.outcomes if o.status == "error"] == ["definition"]
