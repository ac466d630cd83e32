"""Child runs (``StageContext.run_child``): runs an operation starts, each committed on its own,
named by the parent's evidence and released to gc only when the parent says so."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from lmops_core.contracts import Stage, StageContext
from lmops_core.errors import StageError, ValidationError
from lmops_core.workspace import Workspace
from tests.conftest import plugin_ws, write_jsonl

PARENT_PLUGIN = textwrap.dedent("""
    from lmops_core import hookimpl, StageResult, EvidenceRecord, OutputAsset
    from tests.plugin_steps import Step

    def fan_out(context):
        source = context.input("dataset").ref
        kept = context.run_child("data_preparation", "dedup-exact", inputs={"dataset": source})
        dropped = context.run_child("data_preparation", "length-filter",
                                    inputs={"dataset": source}, params={"min_chars": 3})
        [a], [b] = kept.outputs.values(), dropped.outputs.values()
        return StageResult(
            evidence=[EvidenceRecord(kind="pick", subject=a, metrics={"chosen": True}),
                      EvidenceRecord(kind="pick", subject=b, metrics={"chosen": False})],
            released=[b])

    def commit_then_fan_out(context):
        # The code moves on (a new commit) while the run is under way.
        import subprocess
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit",
                        "--allow-empty", "-qm", "later"], check=True)
        return fan_out(context)

    def stray(context):
        # Evidence about a version none of its children made (its input, named by ref).
        context.adopt_child_output(context.input("dataset").ref)

    def stray_evidence(context):
        return StageResult(evidence=[EvidenceRecord(
            kind="pick", subject=context.input("dataset").ref, metrics={"chosen": True})])

    def make_model(context):
        from tests.conftest import make_model_folder
        folder = make_model_folder(context.workdir / "model", bytes([len(context.run_id)]) * 64)
        return StageResult(outputs=[OutputAsset(role="model", asset_type="model", path=folder,
                                                kind="full", name="made")])

    def read_model(context):
        model = context.input("model")
        payload = b"".join(p.read_bytes() for p in sorted(model.path.rglob("*")) if p.is_file())
        return StageResult(evidence=[EvidenceRecord(kind="probe", subject="model",
            metrics={"bytes": float(len(payload))}, details={"path": str(model.path)})])

    def make_then_read(context):
        made = context.run_child("training", "make-model", inputs={})
        [model] = made.outputs.values()
        context.run_child("evaluation", "read-model", inputs={"model": model})
        return StageResult()

    def make_then_echo(context):
        made = context.run_child("training", "make-model", inputs={})
        [model] = made.outputs.values()
        [seen] = context.run_child("evaluation", "read-model", inputs={"model": model}).evidence
        return StageResult(evidence=[EvidenceRecord(kind="echo", subject=model,
            metrics=dict(seen.metrics), details={"kind": seen.kind, "subject": seen.subject})])

    def hand_over(context):
        # Reads none of its inputs: hands "model" to as many children as it is told.
        inputs = context.workdir.parent / "inputs"
        before = sorted(str(p.relative_to(inputs)) for p in inputs.rglob("*"))
        model = context.input("model")
        seen = [context.run_child("evaluation", "read-model", inputs={"model": model.ref})
                .evidence[0] for _ in range(context.params.get("children", 0))]
        return StageResult(evidence=[EvidenceRecord(kind="handed", subject="model",
            metrics={"children": float(len(seen))},
            details={"bytes": [s.metrics["bytes"] for s in seen], "before": before, "path": str(model.path), "digest": model.digest,
                     "seen": [s.details["path"] for s in seen]})])

    @hookimpl
    def register_trainers(register):
        register(Step("make-model", "makes a tiny model", make_model))
        register(Step("make-then-echo", "echoes what a child run recorded", make_then_echo))
        register(Step("make-then-read", "makes a model in one child, reads it in another",
                      make_then_read))

    @hookimpl
    def register_evaluators(register):
        register(Step("read-model", "reads its model input", read_model))
        register(Step("hand-over", "hands its model input to children", hand_over,
                      reads_inputs=False))

    @hookimpl
    def register_data_steps(register):
        register(Step("fan-out", "runs two data steps and picks one", fan_out))
        register(Step("commit-then-fan-out", "commits, then fans out", commit_then_fan_out))
        register(Step("stray", "adopts its own input", stray))
        register(Step("stray-evidence", "names a version it did not make", stray_evidence))
""")


@pytest.fixture
def parent_ws(tmp_path: Path) -> Workspace:
    ws = plugin_ws(tmp_path, None, PARENT_PLUGIN, "parent_plugin.py")
    yield ws
    ws.close()


def _data(ws: Workspace, tmp_path: Path) -> str:
    rows = [{"text": "same"}, {"text": "same"}, {"text": "ab"}]
    return ws.register_dataset("t", write_jsonl(tmp_path / "t.jsonl", rows), shape="text").ref


def test_children_are_recorded_runs_the_parent_judges_and_releases(
    parent_ws: Workspace, tmp_path: Path
) -> None:
    ref = _data(parent_ws, tmp_path)
    parent = parent_ws.run_stage("data_preparation", "fan-out", inputs={"dataset": ref})
    children = [r for r in parent_ws.runs() if r.info.get("parent_run") == parent.run_id]
    assert sorted(r.operation for r in children) == ["dedup-exact", "length-filter"]
    assert all(r.info["parent_operation"] == ["data_preparation", "fan-out"] for r in children)
    versions = parent_ws.list_versions("dataset", "t")[1:]  # the children's outputs
    picks = {
        v.ref: [(e.metrics["chosen"], e.run_id) for e in parent_ws.evidence(v.ref, kind="pick")]
        for v in versions
    }
    assert sorted(picks.values()) == [[(False, parent.run_id)], [(True, parent.run_id)]]
    [released] = [v for v in versions if v.status == "released"]
    assert picks[released.ref] == [(False, parent.run_id)]
    # Its record stays; its file is garbage, and it can no longer be an input.
    with pytest.raises(ValidationError, match="was released by the run that created it"):
        parent_ws.run_stage("data_preparation", "dedup-exact", inputs={"dataset": released.ref})
    assert parent_ws.gc(older_than_seconds=0)["blobs_deleted"] >= 1
    assert parent_ws.verify_audit().ok


def test_children_record_the_code_version_of_their_parent(
    parent_ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.chdir(repo)

    def git(*args: str) -> str:
        who = ["-c", "user.name=t", "-c", "user.email=t@example.com"]
        out = subprocess.run(["git", *who, *args], capture_output=True, text=True, check=True)
        return out.stdout.strip()

    git("init", "-q")
    git("commit", "--allow-empty", "-qm", "first")
    first = git("rev-parse", "--short=12", "HEAD")
    ref = _data(parent_ws, tmp_path)
    parent = parent_ws.run_stage("data_preparation", "commit-then-fan-out", inputs={"dataset": ref})
    assert git("rev-parse", "--short=12", "HEAD") != first  # git moved on meanwhile
    children = [r for r in parent_ws.runs() if r.info.get("parent_run") == parent.run_id]
    # They ran in the parent's process, on the code the parent recorded.
    assert parent_ws.run(parent.run_id).code_version == first
    assert [r.code_version for r in children] == [first, first]


def test_a_run_names_only_versions_its_children_made(parent_ws: Workspace, tmp_path: Path) -> None:
    ref = _data(parent_ws, tmp_path)
    with pytest.raises(ValidationError, match="was not made by a child of an earlier"):
        parent_ws.run_stage("data_preparation", "stray", inputs={"dataset": ref})
    with pytest.raises(StageError, match="nor a version one of its child runs created"):
        parent_ws.run_stage("data_preparation", "stray-evidence", inputs={"dataset": ref})


def test_run_child_needs_a_runner(tmp_path: Path) -> None:
    context = StageContext(
        stage=Stage.TRAINING,
        operation="sweep",
        inputs={},
        params={},
        workdir=tmp_path,
        actor="me",
        run_id="r1",
    )
    with pytest.raises(StageError, match="run it through a workspace"):
        context.run_child("training", "sft", inputs={})


def test_a_child_reads_the_model_a_sibling_stored_from_the_parents_folder(
    parent_ws: Workspace,
) -> None:
    parent = parent_ws.run_stage("training", "make-then-read", inputs={})
    [reader] = [r for r in parent_ws.runs() if r.operation == "read-model"]
    model = parent_ws.get(reader.inputs["model"])
    [probe] = parent_ws.evidence(model.ref, kind="probe")
    # Not exported again: the folder the sibling stored, kept in the parent's run folder.
    home = parent_ws.settings.home
    assert Path(probe.details["path"]).is_relative_to(home / "runs" / parent.run_id / "inputs")
    assert probe.metrics["bytes"] == float(model.size_bytes)
    assert not (home / "runs" / parent.run_id).exists()  # gone with the parent's folder


def test_a_parent_reads_the_evidence_its_child_committed(parent_ws: Workspace) -> None:
    parent_ws.run_stage("training", "make-then-echo", inputs={})
    [model] = [v.ref for v in parent_ws.list_versions("model", "made")]
    [probe] = parent_ws.evidence(model, kind="probe")
    [echo] = parent_ws.evidence(model, kind="echo")
    assert echo.details == {"kind": "probe", "subject": model}
    assert echo.metrics == probe.metrics and probe.metrics["bytes"] > 0


def test_a_parent_that_reads_no_input_exports_it_only_when_a_child_asks(
    parent_ws: Workspace, tmp_path: Path
) -> None:
    from tests.conftest import make_model_folder

    folder = make_model_folder(tmp_path / "m", b"\x01" * 64)
    model = parent_ws.register_model("m", folder, kind="full")
    home = parent_ws.settings.home

    idle = parent_ws.run_stage("evaluation", "hand-over", inputs={"model": model.ref})
    [handed] = parent_ws.evidence(model.ref, kind="handed")
    assert handed.details["before"] == [] and handed.details["path"] == "None"  # nothing exported
    assert handed.details["digest"] == model.digest
    reader = parent_ws.run_stage("evaluation", "read-model", inputs={"model": model.ref})
    # Recorded as any run's inputs are.
    assert parent_ws.run(idle.run_id).info["inputs"] == parent_ws.run(reader.run_id).info["inputs"]

    busy = parent_ws.run_stage(
        "evaluation", "hand-over", inputs={"model": model.ref}, params={"children": 2}
    )
    [handed] = [e for e in parent_ws.evidence(model.ref, kind="handed") if e.run_id == busy.run_id]
    assert handed.details["before"] == []
    # Exported once, when the first child asked, into the parent's folder; both read it there.
    [path, again] = handed.details["seen"]
    assert path == again
    assert Path(path).is_relative_to(home / "runs" / busy.run_id / "inputs" / "model")
    assert handed.details["bytes"] == [float(model.size_bytes)] * 2
    assert not (home / "runs" / busy.run_id).exists()
