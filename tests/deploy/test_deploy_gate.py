"""Attacks on deployment operations: they run only on versions approved for their stage.

A real deployment-target plugin (loaded from a ``.py`` file) records every
version it was run on; each refused attempt must leave that record empty.
SQLite and PostgreSQL.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lmops_core.errors import LmopsError, PolicyViolationError, ValidationError
from lmops_core.workspace import Workspace
from tests.conftest import (
    breach_monitoring,
    policy_ws,
    staffed,
    staging_prod_policy,
    write_jsonl,
    ws_as,
)
from tests.deploy.helpers import approve_to_production, evaluated_model

POLICY = staging_prod_policy("deploy-gate")

TARGET = textwrap.dedent("""
    from lmops_core import hookimpl
    from lmops_core.contracts import EvidenceRecord, StageResult

    RAN = []
    DURING = []

    class FakeServe:
        name = "fake-serve"
        description = "pretends to roll the model out"

        def run(self, ctx):
            RAN.append({role: a.ref for role, a in ctx.inputs.items()})
            for action in DURING:
                action()
            return StageResult(evidence=[EvidenceRecord(kind="rollout", subject="model",
                                                        metrics={"replicas": 2})])

    @hookimpl
    def register_deployment_targets(register):
        register(FakeServe())
""")


@pytest.fixture
def dws(tmp_path: Path, db_url: str) -> Workspace:
    plugin = tmp_path / "fake_serve.py"
    plugin.write_text(TARGET)
    ws = policy_ws(
        tmp_path, POLICY, db_url, file="deploy.yaml", actor="root", plugins=[str(plugin)]
    )
    return staffed(ws, ("ops", "submitter"))


def _plugin(ws: Workspace) -> Any:
    return ws.plugins.pm.get_plugin("fake_serve")


def _deploy(ws: Workspace, inputs: dict[str, str], **params: Any) -> Any:
    return ws.as_actor("ops").run_stage("deployment", "fake-serve", inputs=inputs, params=params)


def test_control_an_approved_version_deploys(dws: Workspace, tmp_path: Path) -> None:
    ref = evaluated_model(dws, tmp_path)
    approve_to_production(dws, ref)
    out = _deploy(dws, {"model": ref}, stage="production")
    ran = _plugin(dws).RAN
    assert ran == [{"model": ref}]
    assert [e.kind for e in dws.evidence(ref, kind="rollout")] == ["rollout"]
    assert dws.run(out.run_id).status == "succeeded"


Setup = Callable[[Workspace, Path], tuple[dict[str, str], dict[str, Any]]]


def _never_promoted(ws: Workspace, tmp_path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    return {"model": evaluated_model(ws, tmp_path)}, {"stage": "production"}


def _staging_only(ws: Workspace, tmp_path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    ref = evaluated_model(ws, tmp_path)
    ws_as(ws, "eng").governance.request_promotion(ref, to="staging")
    return {"model": ref}, {"stage": "production"}


def _revoked(ws: Workspace, tmp_path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    ref = evaluated_model(ws, tmp_path)
    approve_to_production(ws, ref)
    ws_as(ws, "risk").governance.revoke(ref, stage="production", reason="incident")
    return {"model": ref}, {"stage": "production"}


def _marked_in_stage(ws: Workspace, tmp_path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    ref = evaluated_model(ws, tmp_path)
    approve_to_production(ws, ref)
    breach_monitoring(ws, ref)
    return {"model": ref}, {"stage": "production"}


def _policy_changed(ws: Workspace, tmp_path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    ref = evaluated_model(ws, tmp_path)
    approve_to_production(ws, ref)
    path = tmp_path / "policies" / "deploy.yaml"
    path.write_text(path.read_text() + "\n# edited after the approval\n")
    return {"model": ref}, {"stage": "production"}


def _second_model_unapproved(
    ws: Workspace, tmp_path: Path
) -> tuple[dict[str, str], dict[str, Any]]:
    ref = evaluated_model(ws, tmp_path)
    approve_to_production(ws, ref)
    return {"model": ref, "draft": evaluated_model(ws, tmp_path, seed=7)}, {"stage": "production"}


def _stage_missing(ws: Workspace, tmp_path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    ref = evaluated_model(ws, tmp_path)
    approve_to_production(ws, ref)
    return {"model": ref}, {}


def _stage_bogus(ws: Workspace, tmp_path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    ref = evaluated_model(ws, tmp_path)
    approve_to_production(ws, ref)
    return {"model": ref}, {"stage": "prod"}


def _wrong_stage_claimed(ws: Workspace, tmp_path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    ref = evaluated_model(ws, tmp_path)
    ws_as(ws, "eng").governance.request_promotion(ref, to="staging")
    return {"model": ref}, {"stage": "approved-for-training"}


def _dataset_only(ws: Workspace, tmp_path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "hello"}])
    ds = ws_as(ws, "eng").register_dataset("d", data, shape="text")
    return {"model": ds.ref}, {"stage": "production"}


ATTACKS: dict[str, tuple[Setup, type[LmopsError], str]] = {
    "never-promoted": (_never_promoted, PolicyViolationError, "not approved for production"),
    "only-in-staging": (_staging_only, PolicyViolationError, "in stage staging, not production"),
    "revoked": (_revoked, PolicyViolationError, "in stage none"),
    "marked-in-stage": (_marked_in_stage, PolicyViolationError, "revalidation-required"),
    "policy-changed": (_policy_changed, PolicyViolationError, "changed"),
    "second-input-unapproved": (_second_model_unapproved, PolicyViolationError, '"draft"'),
    "stage-missing": (_stage_missing, ValidationError, "parameter stage="),
    "stage-bogus": (_stage_bogus, ValidationError, "parameter stage="),
    "wrong-stage-claimed": (
        _wrong_stage_claimed,
        PolicyViolationError,
        "not approved for approved-for-training",
    ),
    "no-governed-input": (_dataset_only, ValidationError, "model or prompt input"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_deployment_is_refused(dws: Workspace, tmp_path: Path, attack: str) -> None:
    setup, error, message = ATTACKS[attack]
    inputs, params = setup(dws, tmp_path)
    with pytest.raises(error, match=message):
        _deploy(dws, inputs, **params)
    assert _plugin(dws).RAN == []  # the operation never ran
    failed = dws.runs(stage="deployment")
    assert [r.status for r in failed] == ["failed"]  # the attempt itself stays visible


def test_revocation_while_the_operation_runs_keeps_nothing(dws: Workspace, tmp_path: Path) -> None:
    ref = evaluated_model(dws, tmp_path)
    approve_to_production(dws, ref)
    risk = ws_as(dws, "risk")
    _plugin(dws).DURING.append(
        lambda: risk.governance.revoke(ref, stage="production", reason="pulled mid-rollout")
    )
    with pytest.raises(PolicyViolationError, match="while the operation ran"):
        _deploy(dws, {"model": ref}, stage="production")
    assert dws.evidence(ref, kind="rollout") == []
    assert [r.status for r in dws.runs(stage="deployment")] == ["failed"]
