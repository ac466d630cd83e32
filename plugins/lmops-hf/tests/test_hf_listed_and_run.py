"""lmops-hf is listed by `lmops plugins` and its operations run through the runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lmops_hf.base_model import DATA_DIR

from lmops_core.testing import Governed, listed_plugins, read_jsonl, write_jsonl


def test_listed_by_lmops_plugins(tmp_path: Path) -> None:
    listed = listed_plugins(tmp_path / "home")["lmops-hf"]
    assert sorted(listed["operations"]) == ["training:create-base", "training:dpo", "training:sft"]
    assert listed["model_runtimes"] == ["adapter", "base", "full", "merged"]


# No rule asks for approved training data here (the default policy does: see lmops-presidio).
POLICY = """
apiVersion: lmops/v1
kind: Policy
name: training-open
rules:
  - name: staging
    applies_to: {asset: model, transition: staging}
    evidence: [{kind: training}]
"""


def test_operations_run_through_the_runner(
    make_workspace: Callable[..., Governed], tmp_path: Path
) -> None:
    eng = make_workspace(policies={"training-open": POLICY}).as_user("eng", "submitter")
    base = eng.run_stage(
        "training", "create-base", inputs={}, params={"name": "tiny", "size": "tiny"}, seed=0
    ).output("model")
    assert eng.get(base).kind == "base"
    rows = {
        name: read_jsonl(DATA_DIR / f"{name}.jsonl")[:8] for name in ("instructions", "preferences")
    }
    data = {
        shape: eng.register_dataset(
            shape, write_jsonl(tmp_path / f"{name}.jsonl", rows[name]), shape=shape
        ).ref
        for name, shape in (("instructions", "instruction"), ("preferences", "preference"))
    }
    for operation, shape in (("sft", "instruction"), ("dpo", "preference")):
        outcome = eng.run_stage(
            "training",
            operation,
            inputs={"base": base, "dataset": data[shape]},
            params={"max_steps": 1, "batch_size": 4, "threads": 1},
            seed=0,
        )
        adapter = eng.get(outcome.output("adapter"))
        assert adapter.kind == "adapter", operation
        [training] = eng.evidence(adapter.ref, kind="training")
        assert training.metrics["steps"] == 1, operation
