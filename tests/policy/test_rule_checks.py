"""Rules that load but cannot mean what they say: unknown roles, non-boolean conditions,
metrics their evidence kind never records. Each is a lint error and blocks at promotion."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from lmops_core.cli.exit_codes import ExitCode
from lmops_core.errors import PolicyViolationError
from lmops_core.governance.models import ROLES
from lmops_core.policy import lint
from lmops_core.policy.cel_types import result_type
from tests.conftest import make_settings, policy_ws, write_jsonl, ws_as

KINDS = {
    "eval": {"acc": "number", "samples": "integer", "*.*": "number"},
    "pii": {"findings_after": "integer", "clean": "boolean"},
    "validation": {},
}

POLICY = """
apiVersion: lmops/v1
kind: Policy
name: checks
rules:
  - name: gate
    applies_to: {{asset: model, transition: production}}
    evidence:
      - {{kind: eval}}
    conditions:
      - name: c
        expr: {expr}
    approvals:
      - {{role: {role}, count: 1}}
"""


def _policy(
    write: Callable[..., Path],
    expr: str = "evidence.eval.metrics.acc >= 0.5",
    role: str = "validator",
) -> Path:
    return write(POLICY.format(expr=expr, role=role))


def _errors(path: Path, **kw: object) -> list[str]:
    return [
        str(i)
        for i in lint([path], evidence_kinds=KINDS, roles=ROLES, **kw)  # type: ignore[arg-type]
        if i.severity == "error"
    ]


def test_a_sound_rule_has_no_errors(write_policy) -> None:  # type: ignore[no-untyped-def]
    assert lint([_policy(write_policy)], evidence_kinds=KINDS, roles=ROLES) == []


def test_unknown_approval_role_is_an_error(write_policy) -> None:  # type: ignore[no-untyped-def]
    path = _policy(write_policy, role="risk_oficer")
    assert _errors(path) == [
        f"{path}:5: error: rule 'gate': approval role 'risk_oficer' does not exist "
        f"(roles: {', '.join(ROLES)})"
    ]


@pytest.mark.parametrize(
    ("expr", "typ"),
    [
        ("evidence.eval.metrics.acc", "double"),
        ("evidence.eval.metrics.acc - 0.5", "double"),
        ("size(version.tags)", "int"),
        ("'yes'", "string"),
        ("version.ref", "string"),
        ("[true]", "list"),
        ("{'a': true}", "map"),
        ("evidence.eval.metrics['mmlu.acc'] * 2.0", "double"),
        ("has(evidence.eval) ? 1 : 2", "int"),
        ("now", "timestamp"),
    ],
)
def test_non_boolean_condition_is_an_error(
    write_policy,
    expr: str,  # type: ignore[no-untyped-def]
    typ: str,
) -> None:
    path = _policy(write_policy, expr=f'"{expr}"')
    errors = _errors(path)
    assert errors == [
        f"{path}:10: error: rule 'gate', condition 'c': condition evaluates to "
        f"{typ}, not a bool (compare it, e.g. '... >= 0.5')"
    ]


@pytest.mark.parametrize(
    "expr",
    [
        "evidence.eval.metrics.acc >= 0.5 && evidence.eval.metrics.samples > 10.0",
        "!has(evidence.pii) || evidence.pii.metrics.clean",
        "evidence.pii.metrics.clean",
        "version.tags.exists(t, t == 'reviewed')",
        "has(evidence.validation) ? evidence.validation.metrics.anything == 1.0 : true",
        "acme.toxic(version.ref)",
        "evidence.eval.metrics['mmlu.acc'] > 0.3",
        "'evidence.eval.metrics.nope' != version.ref",
    ],
)
def test_boolean_or_unknown_conditions_pass(write_policy, expr: str) -> None:  # type: ignore[no-untyped-def]
    path = _policy(write_policy, expr=f'"{expr}"')
    assert _errors(path, functions=["acme.toxic"]) == []


@pytest.mark.parametrize(
    ("expr", "metric", "kind"),
    [
        ("evidence.eval.metrics.accuracy >= 0.5", "accuracy", "eval"),
        ("evidence.eval.metrics['f1'] >= 0.5", "f1", "eval"),
        ("production.evidence.pii.metrics.findings == 0.0", "findings", "pii"),
    ],
)
def test_undeclared_metric_is_an_error(
    write_policy,
    expr: str,
    metric: str,  # type: ignore[no-untyped-def]
    kind: str,
) -> None:
    path = _policy(write_policy, expr=f'"{expr}"')
    errors = _errors(path)
    assert len(errors) == 1
    assert errors[0].startswith(
        f"{path}:10: error: rule 'gate', condition 'c': reads metric "
        f"{metric!r}, which evidence kind {kind!r} never records"
    )


def test_guarded_undeclared_metric_only_warns(write_policy) -> None:  # type: ignore[no-untyped-def]
    path = _policy(
        write_policy,
        expr='"!has(evidence.eval.metrics.extra) || evidence.eval.metrics.extra > 1.0"',
    )
    issues = lint([path], evidence_kinds=KINDS, roles=ROLES)
    assert [i.severity for i in issues] == ["warning"]


def test_kinds_given_by_name_only_do_not_check_metrics(write_policy) -> None:  # type: ignore[no-untyped-def]
    path = _policy(write_policy, expr='"evidence.eval.metrics.whatever >= 0.5"')
    assert lint([path], evidence_kinds=["eval"]) == []


def test_result_type_never_raises_on_odd_text() -> None:
    for text in [
        "(" * 5000 + "1" + ")" * 5000,
        "a.b.c(",
        "'unterminated",
        "1 +",
        "{1:}",
        "\x00",
        "[1, 2",
        "a ? b",
        "x[",
        "..a",
    ]:
        assert result_type(text) in (None, "int")


def test_shipped_policies_lint_clean_against_real_declarations() -> None:
    from lmops_core.plugins import load_plugins

    root = Path(__file__).resolve().parents[2]
    host = load_plugins(make_settings(root / ".no-home", load_entry_points=True))
    kinds = {name: dict(reg.value.metrics) for name, reg in host.evidence_kinds.items()}
    issues = lint(
        [root / "policies"], evidence_kinds=kinds, roles=ROLES, functions=list(host.policy_checks)
    )
    assert [i for i in issues if i.severity == "error"] == []


def test_cli_lint_exits_1_naming_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        DATASET_POLICY.format(
            expr="evidence.dataset_card.metrics.recordz >= 1.0", role="data_stewart"
        )
    )
    env = {
        **os.environ,
        "LMOPS_HOME": str(tmp_path / "home"),
        "LMOPS_LOAD_ENTRY_POINTS": "false",
        "COLUMNS": "300",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lmops_core.cli import main; main()",
            "policy",
            "lint",
            str(path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == ExitCode.INVALID_INPUT, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert (
        f"{path}:5: error: rule 'data-gate': approval role 'data_stewart' does not exist"
        in result.stderr
    )
    assert (
        f"{path}:10: error: rule 'data-gate', condition 'c': reads metric 'recordz', "
        "which evidence kind 'dataset_card' never records"
    ) in result.stderr
    assert "2 error(s)" in result.stderr


DATASET_POLICY = textwrap.dedent("""\
    apiVersion: lmops/v1
    kind: Policy
    name: data
    rules:
      - name: data-gate
        applies_to: {{asset: dataset, transition: approved-for-training}}
        evidence:
          - {{kind: dataset_card}}
        conditions:
          - name: c
            expr: "{expr}"
        approvals:
          - {{role: {role}, count: 1}}
""")


@pytest.mark.parametrize(
    ("expr", "role", "reason"),
    [
        (
            "evidence.dataset_card.metrics.records >= 1.0",
            "data_stewart",
            "approval role 'data_stewart' does not exist",
        ),
        (
            "evidence.dataset_card.metrics.records + 1.0",
            "data_steward",
            "condition evaluates to double, not a bool",
        ),
        (
            "evidence.dataset_card.metrics.rows >= 1.0",
            "data_steward",
            "reads metric 'rows', which evidence kind 'dataset_card' never records",
        ),
    ],
)
def test_promotion_is_refused_naming_the_rule(
    tmp_path: Path, db_url: str, expr: str, role: str, reason: str
) -> None:
    ws = policy_ws(
        tmp_path,
        DATASET_POLICY.format(expr=expr, role=role),
        db_url,
        file="data.yaml",
        actor="observer",
    )
    try:
        eng = ws_as(ws, "eng", "submitter")
        ref = eng.register_dataset(
            "chats", write_jsonl(tmp_path / "c.jsonl", [{"text": "hi"}]), shape="text"
        ).ref
        with pytest.raises(PolicyViolationError) as info:
            eng.governance.request_promotion(ref, to="approved-for-training")
        message = str(info.value)
        assert "data-gate/" in message and reason in message
        assert f"{tmp_path / 'policies' / 'data.yaml'}" in message
        assert ws.get(ref).stage is None
        assert ws.governance.list_requests().items == []
        explained = ws.governance.explain(ref, to="approved-for-training")
        assert not explained.allowed
        assert any(o.check == "definition" and o.rule == "data-gate" for o in explained.blocking)
    finally:
        ws.close()
