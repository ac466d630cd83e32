"""The example files the docs use are valid on their own terms (cheap checks; the docs test runs them)."""

from __future__ import annotations

from pathlib import Path

from lmops_lm_eval.suite import load_suite

from lmops_core.datasets.ingest import ingest_file
from lmops_core.pipelines import load_pipeline
from lmops_core.policy import lint
from lmops_core.suites import inspect_suite_folder

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_example_policy_lints_clean() -> None:
    assert [str(i) for i in lint([EXAMPLES / "policies"])] == []


def test_the_example_suite_loads_and_holds_no_code() -> None:
    suite = load_suite(EXAMPLES / "suite" / "suite.yaml")
    assert suite.tasks == ("bank_faq",)
    assert inspect_suite_folder(EXAMPLES / "suite").code_files == []


def test_the_example_pipeline_loads() -> None:
    assert load_pipeline(EXAMPLES / "pipeline.yaml").name == "data-approval"


def test_each_data_file_matches_its_shape(tmp_path: Path) -> None:
    shapes = {
        "chats.jsonl": "dialogue",
        "instructions.jsonl": "instruction",
        "notes.jsonl": "text",
        "preferences.jsonl": "preference",
    }
    assert sorted(p.name for p in (EXAMPLES / "data").iterdir()) == sorted(shapes)
    for name, shape in shapes.items():
        result = ingest_file(EXAMPLES / "data" / name, shape=shape, tmp_dir=tmp_path)
        assert result.records > 0 and result.dropped == 0
