"""`lmops demo` runs the whole governed lifecycle; checked from the registry and audit log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lmops_core.settings import Settings
from lmops_core.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]
SERVED = REPO / "src" / "lmops_core" / "data" / "demo" / "suite" / "tasks" / "served_answers.jsonl"


def test_demo_runs_the_governed_lifecycle(tmp_path: Path) -> None:
    lmops = Path(sys.executable).with_name("lmops")
    env = {**os.environ, "LMOPS_HOME": str(tmp_path)}
    env.pop("LMOPS_POLICIES_DIR", None)
    # Run outside any git repository, as a user might: no library chatter may leak through.
    out = subprocess.run(
        [str(lmops), "demo"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1800
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for noise in ("it/s]", "fatal:", "Warning", "warn("):
        assert noise not in out.stdout + out.stderr, noise

    ws = Workspace.open(Settings(home=tmp_path / "demo", policies_dir=REPO / "policies"))
    base, adapter, merged, int8 = (ws.get(f"model:assistant@{n}") for n in (1, 2, 3, 4))
    assert (base.kind, adapter.kind, merged.kind, int8.kind) == (  # type: ignore[attr-defined]
        "base",
        "adapter",
        "merged",
        "onnx-int8",
    )
    # Lineage: the merged model comes from the base and the redacted, approved dataset.
    parents = sorted(e.parent for e in ws.lineage(merged.ref, depth=1))
    assert parents == ["dataset:assistant-sft@2", "model:assistant@1"]
    assert ws.get("dataset:assistant-sft@2").stage == "approved-for-training"
    pii = ws.evidence("dataset:assistant-sft@2", kind="pii")[0].metrics
    assert pii["findings_before"] > 0 and pii["findings_after"] == 0
    # A real effect: the base fails the evaluation gate, the fine-tuned model passes it.
    base_eval = ws.evidence(base.ref, kind="eval")[-1].metrics
    tuned_eval = ws.evidence(merged.ref, kind="eval")[-1].metrics
    assert base_eval["acc"] < 0.55 <= tuned_eval["acc"]
    # The gate checked, word for word, every answer the service gives: the base fails that check
    # (and is blocked for it), the tuned model gets them all right.
    assert base_eval["suite"] == tuned_eval["suite"] == "suite:assistant-gate@1"
    assert base_eval["suite_passed"] is False and tuned_eval["suite_passed"] is True
    assert tuned_eval["assistant_served_answers.exact_match"] == 1.0
    assert "[FAIL] suite-thresholds" in out.stdout
    compression = ws.evidence(int8.ref, kind="compression")[-1].metrics
    assert compression["size_ratio"] < 0.5 and "perplexity_increase_pct" in compression
    for kind in ("safety", "serving_perf", "explanation", "bundle", "drift", "revocation"):
        assert ws.evidence(merged.ref, kind=kind), kind
    # Approved by two different people with the required roles, then revoked by the policy.
    approvals = {
        e.details["actor"]: e.metrics["role"] for e in ws.evidence(merged.ref, kind="approval")
    }
    assert approvals == {"model-validator": "validator", "risk-officer": "risk_officer"}
    # Each signed with the person's own registered key; the impostor's name-only try left no trace.
    assert {e.details["auth_method"] for e in ws.evidence(merged.ref, kind="approval")} == {
        "personal-key"
    }
    assert "refused, as expected" in out.stdout and "needs a credential" in out.stdout
    assert ws.verify_decisions().ok
    actions = [e.action for e in ws.audit_events(subject=merged.ref, limit=1000)]
    assert (
        actions.index("promotion.complete")
        < actions.index("bundle.create")
        < actions.index("promotion.revoked")
    )
    assert merged.stage is None and merged.status == "revalidation-required"
    # The inference log never holds the raw card number the demo sent.
    log = (tmp_path / "demo" / "inference.jsonl").read_text()
    assert "4111 1111 1111 1111" not in log and "4111111111111111" not in log
    # What the model was served (after the guard) and answered is exactly what the gate checked,
    # and the demo printed those right answers.
    served = [json.loads(line) for line in log.splitlines()][:2]
    checked = [json.loads(line) for line in SERVED.read_text().splitlines()]
    assert [(r["prompt"], r["response"]) for r in served] == [
        (c["prompt"], c["reply"]) for c in checked
    ]
    assert "< 3 + 4 = 7." in out.stdout
    assert "< I can't help with that, because it could hurt people." in out.stdout
    assert (tmp_path / "demo" / "reports" / "drift.html").is_file()
    report = (tmp_path / "demo" / "reports" / "validation-report.md").read_text()
    assert "model:assistant@3" in report and "4111" not in report
    assert ws.verify_audit().ok
