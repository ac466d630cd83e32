"""Running stage operations: what gets recorded, and what a failure leaves behind."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sqlalchemy import func, select

from lmops_core.errors import PluginError, StageError, ValidationError
from lmops_core.registry.models import DatasetVersion, Evidence, LineageEdge, Run
from lmops_core.workspace import Workspace
from tests.conftest import plugin_ws, write_jsonl

ROWS = [
    {"prompt": "What is 2+2?", "response": "4"},
    {"prompt": "What is 2+2?", "response": "4"},
    {"prompt": "Capital of France?", "response": "Paris"},
    {"prompt": "x", "response": "y"},
]


def _data(ws: Workspace, tmp_path: Path) -> str:
    return ws.register_dataset(
        "qa", write_jsonl(tmp_path / "qa.jsonl", ROWS), shape="instruction"
    ).ref


def _counts(ws: Workspace) -> dict[str, int]:
    with ws.db.read() as s:
        return {
            t.__name__: s.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (DatasetVersion, Evidence, LineageEdge, Run)
        }


def test_dedup_run_records_version_lineage_evidence_and_run(ws: Workspace, tmp_path: Path) -> None:
    ref = _data(ws, tmp_path)
    outcome = ws.run_stage("data_preparation", "dedup-exact", inputs={"dataset": ref})
    out = outcome.output("dataset")
    assert out == "dataset:qa@2"
    assert ws.get(out).record_count == 3  # type: ignore[attr-defined]
    step = ws.evidence(out, kind="data_step")[0]
    assert step.metrics == {"records_in": 4, "records_out": 3, "records_removed": 1}
    assert step.run_id == outcome.run_id and step.plugin == "lmops-core:data_steps"
    assert ws.evidence(out, kind="dataset_card")[0].metrics["records"] == 3
    assert [(e.child, e.parent, e.run_id) for e in ws.lineage(out)] == [(out, ref, outcome.run_id)]
    run = ws.run(outcome.run_id)
    assert (run.status, run.stage, run.operation, run.actor) == (
        "succeeded",
        "data_preparation",
        "dedup-exact",
        "alice",
    )
    assert run.info["inputs"]["dataset"]["ref"] == ref
    assert ws.verify_audit().ok


def test_length_filter_params_are_validated(sqlite_ws: Workspace, tmp_path: Path) -> None:
    ref = _data(sqlite_ws, tmp_path)
    out = sqlite_ws.run_stage(
        "data_preparation", "length-filter", inputs={"dataset": ref}, params={"min_chars": 5}
    )
    assert sqlite_ws.get(out.output("dataset")).record_count == 3  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match='unknown parameter "min_len"'):
        sqlite_ws.run_stage(
            "data_preparation", "length-filter", inputs={"dataset": ref}, params={"min_len": 5}
        )
    assert sqlite_ws.runs()[0].status == "failed"


def test_near_dedup_uses_minhash(sqlite_ws: Workspace, tmp_path: Path) -> None:
    base = "the customer asked how to reset the online banking password after travelling"
    rows = [
        {"text": base},
        {"text": base + " abroad"},
        {"text": "completely different text about mortgage rates today"},
    ]
    ref = sqlite_ws.register_dataset("t", write_jsonl(tmp_path / "t.jsonl", rows), shape="text").ref
    out = sqlite_ws.run_stage(
        "data_preparation", "dedup-near", inputs={"dataset": ref}, params={"threshold": 0.5}
    )
    ev = sqlite_ws.evidence(out.output("dataset"), kind="data_step")[0]
    assert ev.metrics["records_removed"] == 1


def test_unknown_operation_lists_what_exists(sqlite_ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(
        PluginError,
        match=r'no data preparation operation named "nope" '
        r"\(available: dedup-exact, dedup-near, length-filter\)",
    ):
        sqlite_ws.run_stage("data_preparation", "nope", inputs={})


FAILING_PLUGIN = textwrap.dedent("""
    from lmops_core import hookimpl, StageResult, OutputAsset, EvidenceRecord
    from tests.plugin_steps import Step, text_output, write_text

    def half_way(context):
        write_text(context.workdir / "data.jsonl", '{"text": "partial"}\\n')
        context.progress.start("working", total=2)
        raise RuntimeError("GPU on fire after writing the output")

    def escaper(context):
        return StageResult(outputs=[OutputAsset(role="dataset", asset_type="dataset",
                           path=context.input("dataset").path, kind="text",
                           derived_from=["dataset"])])

    def bad_evidence(context):
        return StageResult(
            outputs=[text_output(context, "data.jsonl", '{"text": "fine"}\\n')],
            evidence=[EvidenceRecord(kind="x", subject="dataset",
                                     metrics={"bad": float("inf")})])

    @hookimpl
    def register_data_steps(register):
        register(Step("half-way", "writes an output, then fails", half_way))
        register(Step("escaper", "returns an output outside its workdir", escaper))
        register(Step("bad-evidence", "writes a good output and evidence that cannot be stored",
                      bad_evidence))
""")


@pytest.fixture
def failing_ws(tmp_path: Path, db_url: str) -> Workspace:
    return plugin_ws(tmp_path, db_url, FAILING_PLUGIN, "failing_plugin.py")


@pytest.mark.parametrize(
    ("operation", "error", "message"),
    [
        ("half-way", StageError, "GPU on fire after writing the output"),
        ("escaper", StageError, "must exist inside the run's workdir"),
        ("bad-evidence", ValidationError, "metrics is not valid JSON"),
    ],
)
def test_failure_mid_stage_leaves_no_partial_writes(
    failing_ws: Workspace, tmp_path: Path, operation: str, error: type[Exception], message: str
) -> None:
    ref = failing_ws.register_dataset(
        "t", write_jsonl(tmp_path / "t.jsonl", [{"text": "a"}]), shape="text"
    ).ref
    before = _counts(failing_ws)
    events_before = len(failing_ws.audit_events(limit=1000))
    with pytest.raises(error, match=message):
        failing_ws.run_stage("data_preparation", operation, inputs={"dataset": ref})
    after = _counts(failing_ws)
    assert after == {**before, "Run": before["Run"] + 1}  # only the failed-run record
    run = failing_ws.runs()[0]
    assert run.status == "failed" and message.split()[0] in (run.error or "")
    events = failing_ws.audit_events(limit=1000)
    assert [e.action for e in events[events_before:]] == ["run.failed"]
    assert failing_ws.verify_audit().ok
    # The failed run's work folder stays for resuming (inputs are gone) until gc sweeps it.
    kept = list((failing_ws.settings.home / "runs").iterdir())
    assert [p.name for p in kept] == [run.id]
    assert [p.name for p in kept[0].iterdir()] == ["work"]
    assert failing_ws.gc(older_than_seconds=0)["stale_work_files"] == 1
    assert list((failing_ws.settings.home / "runs").iterdir()) == []
    failing_ws.close()


def test_input_needs_type_prefix(sqlite_ws: Workspace, tmp_path: Path) -> None:
    _data(sqlite_ws, tmp_path)
    with pytest.raises(
        ValidationError, match='input "dataset": reference .* needs a type prefix'
    ) as e:
        sqlite_ws.run_stage("data_preparation", "dedup-exact", inputs={"dataset": "qa@1"})
    assert str(e.value).endswith("(dataset:, model:, prompt:, suite: or guard:)")  # every type


def test_secret_params_are_not_recorded(sqlite_ws: Workspace, tmp_path: Path) -> None:
    from lmops_core.runner import redact_params

    assert redact_params(
        {"salt": "pepper", "hash_salt": "x", "threshold": 0.5, "api_key": "", "token": None}
    ) == {"salt": "***", "hash_salt": "***", "threshold": 0.5, "api_key": "", "token": None}
    ref = _data(sqlite_ws, tmp_path)
    with pytest.raises(ValidationError):
        sqlite_ws.run_stage(
            "data_preparation", "length-filter", inputs={"dataset": ref}, params={"salt": "pepper"}
        )
    assert sqlite_ws.runs()[0].params == {"salt": "***"}
