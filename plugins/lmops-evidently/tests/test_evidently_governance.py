"""Real drift checks feed governance: a calm window keeps the approval, a shifted one revokes it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import lmops_hf

from lmops_core.cli.monitor_cmds import monitor_window
from lmops_core.settings import Settings
from lmops_core.workspace import Workspace

POLICY = textwrap.dedent("""
    apiVersion: lmops/v1
    kind: Policy
    name: monitored
    rules:
      - name: prod
        applies_to: {asset: model, transition: production}
        approvals:
          - {role: validator, count: 1}
      - name: stay
        applies_to: {asset: model, transition: production, event: monitoring}
        evidence:
          - {kind: drift, stage: monitoring, max_age: 7d}
        conditions:
          - name: no-drift
            expr: "!evidence.drift.metrics.dataset_drift"
            message: the monitoring window shows dataset drift
        on_breach: [alert, revoke]
""")
DATA = Path(lmops_hf.__file__).parent / "data"
# PII hit rate needs the spaCy model; this test is about the governance loop, not PII.
NO_PII = {"descriptors": ["length", "words", "oov_rate", "lang", "refusal"]}
SHIFTED = (
    Path(__file__).resolve().parents[3]
    / "src"
    / "lmops_core"
    / "data"
    / "demo"
    / "drift_window.jsonl"
)


def test_calm_window_keeps_approval_and_shifted_window_revokes_it(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "p.yaml").write_text(POLICY)
    ws = Workspace.open(Settings(home=tmp_path / "home", policies_dir=policies, actor="root"))
    admin = ws.with_token(ws.governance.bootstrap_admin("root"))
    eng = ws.with_token(admin.governance.create_token("eng", role="submitter"))
    val = ws.with_token(admin.governance.create_token("val", role="validator"))
    model = eng.run_stage(
        "training", "create-base", inputs={}, params={"name": "assistant"}
    ).output("model")
    reference = eng.register_dataset("train", DATA / "instructions.jsonl", shape="instruction").ref
    req = eng.governance.request_promotion(model, to="production")
    val.governance.decide(req.id, approve=True, role="validator", comment="ok")
    monitor = ws.as_actor("monitor")

    _, calm = monitor_window(
        monitor,
        model=model,
        reference=reference,
        log=DATA / "instructions_heldout.jsonl",
        monitor="drift",
        params=NO_PII,
    )
    assert not calm.breached, calm.reasons
    assert ws.get(model).stage == "production"

    _, shifted = monitor_window(
        monitor, model=model, reference=reference, log=SHIFTED, monitor="drift", params=NO_PII
    )
    assert shifted.breached and shifted.actions == ["alert", "revoke"]
    assert ws.get(model).stage is None
    revoked = ws.audit_events(action="promotion.revoked")
    assert [e.subject for e in revoked] == [model]
    assert ws.evidence(model, kind="drift")[-1].metrics["dataset_drift"] is True
    assert ws.verify_audit().ok
