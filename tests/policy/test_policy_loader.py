"""Loading policy files: schema errors with file, line and key; CEL compiled at load."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmops_core.digests import digest_file
from lmops_core.errors import PolicyError, ValidationError
from lmops_core.policy import load_policies, load_policy

GOOD = """
apiVersion: lmops/v1
kind: Policy
name: team
rules:
  - name: prod
    applies_to: {asset: model, risk_tiers: [standard], transition: production}
    evidence:
      - {kind: eval, max_age: 30d}
    conditions:
      - name: accuracy
        expr: evidence.eval.metrics.acc >= 0.5
    approvals:
      - {role: validator}
    request_ttl: 7d
"""


def test_load_good_policy_with_digest_and_parsed_fields(write_policy) -> None:
    path = write_policy(GOOD)
    policy = load_policy(path)
    assert policy.name == "team"
    assert policy.digest == digest_file(path)
    rule = policy.rules[0]
    assert rule.evidence[0].max_age is not None and rule.evidence[0].max_age.days == 30
    assert rule.request_ttl is not None and rule.request_ttl.days == 7
    assert rule.approvals[0].count == 1
    assert rule.separation_of_duties is True
    assert policy.lines[("prod", "accuracy")] == 10


def test_a_file_is_parsed_once_per_content_and_an_edit_is_read(write_policy) -> None:
    path = write_policy(GOOD)
    first = load_policy(path)
    assert load_policy(path) is first  # same bytes: the parsed policy is reused
    edited = write_policy(GOOD.replace("acc >= 0.5", "acc >= 0.7"))
    again = load_policy(edited)
    assert again is not first and again.digest == digest_file(edited) != first.digest
    assert "0.7" in again.expressions[("prod", "accuracy")].source
    broken = write_policy(GOOD.replace("kind: Policy", "kind: Policy\nkind: Policy"))
    for _ in range(2):  # a broken file stays broken, whether parsed or remembered
        assert "duplicate" in _error(broken).lower()


def _error(path: Path) -> str:
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    return str(info.value)


def test_malformed_yaml_names_file_and_line(write_policy) -> None:
    path = write_policy(GOOD.replace("kind: Policy", "kind: [Policy"))
    message = _error(path)
    assert f"{path}:" in message
    assert "malformed YAML" in message
    # The unclosed flow sequence is reported where the parser gave up, not at line 1.
    assert f"{path}:1:" not in message


def test_unknown_key_names_file_line_key_and_allowed_keys(write_policy) -> None:
    path = write_policy(
        GOOD.replace("      - {kind: eval, max_age: 30d}", "      - {kind: eval, maxage: 30d}")
    )
    message = _error(path)
    assert f"{path}:8:" in message
    assert "unknown key 'maxage' at rules[0].evidence[0]" in message
    assert "max_age" in message and "same_digest" in message
    assert "rule 'prod'" in message


def test_unknown_top_level_key(write_policy) -> None:
    path = write_policy(GOOD + "owner: risk-team\n")
    message = _error(path)
    assert f"{path}:15:" in message
    assert "unknown key 'owner' at top level" in message


def test_wrong_value_names_field_and_value(write_policy) -> None:
    path = write_policy(GOOD.replace("risk_tiers: [standard]", "risk_tiers: [hgh]"))
    message = _error(path)
    assert f"{path}:6:" in message
    assert "rules[0].applies_to.risk_tiers[0]" in message
    assert "'hgh'" in message


def test_bad_duration_is_reported(write_policy) -> None:
    path = write_policy(GOOD.replace("request_ttl: 7d", "request_ttl: 7 days"))
    message = _error(path)
    assert f"{path}:14:" in message
    assert "rules[0].request_ttl" in message and "invalid duration '7 days'" in message


def test_missing_required_key(write_policy) -> None:
    path = write_policy(GOOD.replace("kind: Policy\n", ""))
    message = _error(path)
    assert "kind: Field required" in message


def test_duplicate_yaml_key_is_refused(write_policy) -> None:
    path = write_policy(GOOD.replace("name: team\n", "name: team\nname: other\n"))
    message = _error(path)
    assert f"{path}:4:" in message and "duplicate key 'name'" in message


def test_yaml_aliases_are_refused(write_policy) -> None:
    text = GOOD.replace(
        "applies_to: {asset: model, risk_tiers: [standard], transition: production}",
        "applies_to: &scope {asset: model, transition: production}",
    ) + ("  - name: other\n    applies_to: *scope\n")
    message = _error(write_policy(text))
    assert "aliases are not allowed" in message


def test_duplicate_rule_names_are_refused(write_policy) -> None:
    text = GOOD + "  - name: prod\n    applies_to: {asset: prompt, transition: production}\n"
    message = _error(write_policy(text))
    assert "duplicate rule name 'prod'" in message


def test_empty_file_and_several_documents(write_policy) -> None:
    assert "policy file is empty" in _error(write_policy("# nothing here\n"))
    message = _error(write_policy(GOOD + "---\n" + GOOD, name="two.yaml"))
    assert "malformed YAML" in message and "single document" in message


def test_bad_cel_names_file_rule_condition_and_reason(write_policy) -> None:
    path = write_policy(GOOD.replace(">= 0.5", ">= 0.5 &&"))
    message = _error(path)
    assert f"{path}:11:" in message
    assert "rule 'prod', condition 'accuracy'" in message
    assert "does not compile" in message and "Syntax error" in message


def test_unknown_variable_is_refused_at_load(write_policy) -> None:
    path = write_policy(GOOD.replace("evidence.eval.metrics.acc", "evidnce.eval.metrics.acc"))
    message = _error(path)
    assert "unknown variable(s) evidnce" in message
    assert "condition 'accuracy'" in message


def test_several_errors_are_all_reported(write_policy) -> None:
    path = write_policy(
        GOOD.replace("role: validator", "role: validator, quorum: 2").replace("30d", "forever")
    )
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert "2 errors" in str(info.value)
    assert len(info.value.details["issues"]) == 2


def test_missing_file_is_a_policy_error(tmp_path: Path) -> None:
    assert "cannot read policy file" in _error(tmp_path / "absent.yaml")


def test_load_policies_reads_folder_and_refuses_duplicate_names(write_policy, tmp_path) -> None:
    write_policy(GOOD, name="a.yaml")
    write_policy(GOOD.replace("transition: production", "transition: staging"), name="b.yml")
    (tmp_path / "notes.txt").write_text("not a policy")
    with pytest.raises(PolicyError) as info:
        load_policies(tmp_path)
    assert "policy name 'team' is already used by" in str(info.value)
    write_policy(GOOD.replace("name: team", "name: other"), name="b.yml")
    policies = load_policies(tmp_path)
    assert [p.name for p in policies] == ["team", "other"]
    assert set(policies.digests) == {str(tmp_path / "a.yaml"), str(tmp_path / "b.yml")}


def test_load_policies_on_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="does not exist"):
        load_policies(tmp_path / "nope")


def test_select_by_asset_tier_transition_and_event(write_policy, tmp_path) -> None:
    write_policy(
        GOOD + "  - name: any-tier\n"
        "    applies_to: {asset: model, transition: production}\n"
        "  - name: watch\n"
        "    applies_to: {asset: model, transition: production, event: monitoring}\n"
    )
    policies = load_policies(tmp_path)
    names = [m.rule.name for m in policies.select("model", "standard", "production")]
    assert names == ["prod", "any-tier"]
    assert [m.rule.name for m in policies.select("model", "high", "production")] == ["any-tier"]
    assert policies.select("prompt", "standard", "production") == []
    assert policies.select("model", "low", "staging") == []
    monitoring = policies.select("model", "low", "production", event="monitoring")
    assert [m.rule.name for m in monitoring] == ["watch"]
    matched = policies.select("model", "standard", "production")[0]
    assert matched.file == str(tmp_path / "policy.yaml")
    assert matched.digest == digest_file(tmp_path / "policy.yaml")
    assert matched.policy == "team" and set(matched.expressions) == {"accuracy"}


def test_select_refuses_unknown_asset_or_tier(write_policy, tmp_path) -> None:
    write_policy(GOOD)
    policies = load_policies(tmp_path)
    with pytest.raises(ValidationError, match="unknown risk tier 'hgh'"):
        policies.select("model", "hgh", "production")
    with pytest.raises(ValidationError, match="unknown asset type 'modle'"):
        policies.select("modle", "high", "production")
