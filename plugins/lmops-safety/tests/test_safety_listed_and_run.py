"""lmops-safety is listed by `lmops plugins` and its operation runs through the runner."""

from __future__ import annotations

from pathlib import Path

from lmops_core.testing import Governed, listed_plugins


def test_listed_by_lmops_plugins(tmp_path: Path) -> None:
    assert listed_plugins(tmp_path / "home")["lmops-safety"]["operations"] == [
        "evaluation:safety",
        "evaluation:guard-probe",
        "evaluation:tc260",
    ]


def test_operations_run_through_the_runner(workspace: Governed, tiny_model: Path) -> None:
    eng = workspace.as_user("eng", "submitter")
    model = eng.register_model("tiny", tiny_model).ref
    eng.run_stage(
        "evaluation",
        "safety",
        inputs={"model": model},
        params={"max_probes_per_group": 1, "max_new_tokens": 4, "threads": 1},
        seed=0,
    )
    [evidence] = eng.evidence(model, kind="safety")
    assert evidence.metrics["probes"] > 0
