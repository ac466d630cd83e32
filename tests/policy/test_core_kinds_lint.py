"""The core's own evidence kinds are declared: policies naming them lint clean, typos do not."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from lmops_core.builtins.evidence_kinds import CORE_KINDS
from lmops_core.plugins import load_plugins
from lmops_core.policy import lint
from lmops_core.vocabulary import ROLES
from tests.conftest import make_settings

POLICY = textwrap.dedent("""\
    apiVersion: lmops/v1
    kind: Policy
    name: core-kinds
    rules:
      - name: redeploy
        applies_to: {{asset: model, transition: production}}
        evidence:
          - {{kind: bundle}}
          - {{kind: promotion}}
          - {{kind: approval}}
          - {{kind: revocation}}
          - {{kind: promotion_request}}
          - {{kind: revalidation}}
        conditions:
          - name: c
            expr: "{expr}"
        approvals:
          - {{role: validator, count: 1}}
""")
CLEAN = (
    "evidence.bundle.metrics.encrypted && evidence.bundle.metrics.size_bytes < 1e9 && "
    "evidence.promotion.metrics.stage == 'staging' && "
    "evidence.approval.metrics.decision == 'approve' && "
    "!evidence.revocation.metrics.by_policy && "
    "evidence.promotion_request.metrics.to == 'production' && "
    "evidence.revalidation.metrics.since != ''"
)


@pytest.fixture
def declared(tmp_path: Path) -> dict[str, dict[str, str]]:
    """Metric declarations as `lmops policy lint` and promotion read them (core only)."""
    return load_plugins(make_settings(tmp_path / "home")).metric_types()


def _errors(path: Path, declared: dict[str, dict[str, str]]) -> list[str]:
    return [
        str(i) for i in lint([path], evidence_kinds=declared, roles=ROLES) if i.severity == "error"
    ]


def test_every_kind_the_core_records_is_declared(declared: dict[str, dict[str, str]]) -> None:
    for kind in (
        "bundle",
        "promotion",
        "approval",
        "revocation",
        "promotion_request",
        "revalidation",
        "dataset_card",
        "ingestion",
        "pickle_allowed",
        "validation",
        "data_step",
    ):
        assert kind in declared, kind
    assert {k.name for k in CORE_KINDS} <= set(declared)


def test_policy_using_core_kinds_lints_clean(
    write_policy: Callable[..., Path], declared: dict[str, dict[str, str]]
) -> None:
    assert _errors(write_policy(POLICY.format(expr=CLEAN)), declared) == []


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        (
            "evidence.bundle.metrics.encryptd",
            "reads metric 'encryptd', which evidence kind 'bundle' never records",
        ),
        ("evidence.approval.metrics.decison == 'approve'", "reads metric 'decison'"),
        ("evidence.bundle.metrics.members", "condition evaluates to double, not a bool"),
    ],
)
def test_misspelt_or_mistyped_metric_of_a_core_kind_is_an_error(
    write_policy: Callable[..., Path], declared: dict[str, dict[str, str]], expr: str, says: str
) -> None:
    errors = _errors(write_policy(POLICY.format(expr=expr)), declared)
    assert len(errors) == 1 and says in errors[0], errors
