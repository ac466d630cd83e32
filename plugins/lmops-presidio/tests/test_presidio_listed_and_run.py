"""lmops-presidio is listed by `lmops plugins` and its operation runs through the runner."""

from __future__ import annotations

from pathlib import Path

from lmops_core.testing import Governed, listed_plugins, read_jsonl, write_jsonl


def test_listed_by_lmops_plugins(tmp_path: Path) -> None:
    listed = listed_plugins(tmp_path / "home")["lmops-presidio"]
    assert listed["operations"] == ["data_preparation:pii-redact"]
    assert listed["guards"] == ["pii"]


def test_operations_run_through_the_runner(workspace: Governed, tmp_path: Path) -> None:
    eng = workspace.as_user("eng", "submitter")
    records = [{"text": "Write to alice.martin@example.com today."}, {"text": "Nothing here."}]
    data = eng.register_dataset(
        "mail", write_jsonl(tmp_path / "mail.jsonl", records), shape="text"
    ).ref
    outcome = eng.run_stage(
        "data_preparation", "pii-redact", inputs={"dataset": data}, params={"ner_model": None}
    )
    redacted = eng.get(outcome.output("dataset"))
    assert "alice.martin@example.com" not in str(
        read_jsonl(eng.export(redacted.ref, tmp_path / "out"))
    )
    [evidence] = eng.evidence(redacted.ref, kind="pii")
    assert evidence.metrics["records"] == 2
