"""lmops-evidently is listed by `lmops plugins` and its operation runs through the runner."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmops_core.testing import Governed, listed_plugins, write_jsonl


def test_listed_by_lmops_plugins(tmp_path: Path) -> None:
    assert listed_plugins(tmp_path / "home")["lmops-evidently"]["operations"] == [
        "monitoring:drift"
    ]


def test_operations_run_through_the_runner(workspace: Governed, tmp_path: Path, logs: Any) -> None:
    eng = workspace.as_user("eng", "submitter")
    windows = {
        name: eng.register_dataset(
            name, write_jsonl(tmp_path / f"{name}.jsonl", rows), shape="instruction"
        ).ref
        for name, rows in (
            ("reference", logs(60, seed=1)),
            ("current", logs(60, seed=2, shifted=True)),
        )
    }
    eng.run_stage("monitoring", "drift", inputs=windows, params={"pii_rows": 10})
    [evidence] = eng.evidence(windows["current"], kind="drift")
    assert evidence.metrics["dataset_drift"] is True
