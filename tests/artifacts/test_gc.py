"""`lmops gc` collects the blobs failed runs leave behind, and nothing anyone still needs.

A real plugin fails after storing outputs; the blobs it left are kept during the grace
period, then collected with a report of count and bytes, while every referenced blob
(dataset files, model folders and their members, evidence files) survives and verifies.
A lease (a run or registration in flight) protects its blobs whatever their age.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmops_core.cli import app
from lmops_core.errors import IntegrityError, LmopsError, ValidationError
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder, make_settings, plugin_ws, write_jsonl

PLUGIN = textwrap.dedent("""
    from lmops_core import hookimpl, StageResult, EvidenceRecord
    from tests.plugin_steps import Step, text_output, write_text

    def bad_second_output(context):
        good = text_output(context, "good.jsonl", '{"text": "first output"}\\n', role="a")
        bad = text_output(context, "bad.jsonl", '{"text": NaN}\\n', role="b")
        return StageResult(outputs=[good, bad])

    def nan_evidence(context):
        report = write_text(context.workdir / "report.html", "<p>report of the nan run</p>")
        return StageResult(
            outputs=[text_output(context, "out.jsonl", '{"text": "nan evidence output"}\\n')],
            evidence=[EvidenceRecord(kind="x", subject="dataset", metrics={"score": float("nan")},
                                     artifacts={"report": report})],
            series={"loss": [[0, 1.0], [1, 0.5]]})

    def wrong_subject(context):
        output = text_output(context, "out.jsonl", '{"text": "wrong subject output"}\\n')
        files = {"r": write_text(context.workdir / "r.txt", "wrong subject report")}
        evidence = [EvidenceRecord(kind="x", subject="dataset", metrics={"ok": 1}, artifacts=files),
                    EvidenceRecord(kind="x", subject="ghost", metrics={"ok": 1})]
        return StageResult(outputs=[output], evidence=evidence)

    @hookimpl
    def register_data_steps(register):
        register(Step("bad-second-output", "a good first output, then an output that is not "
                      "a valid dataset", bad_second_output))
        register(Step("nan-evidence", "an output, an evidence file and a series, then NaN in "
                      "evidence", nan_evidence))
        register(Step("wrong-subject", "an output, then evidence about a digest that is not "
                      "the subject's", wrong_subject))
""")


@pytest.fixture
def gc_ws(tmp_path: Path, db_url: str) -> Workspace:
    return plugin_ws(tmp_path, db_url, PLUGIN, "leaky_plugin.py")


def _blobs(ws: Workspace) -> dict[str, int]:
    return {d: ws.artifacts.backend.size(d) for d in ws.artifacts.backend.iter_digests()}


@pytest.mark.parametrize("operation", ["bad-second-output", "nan-evidence"])
def test_gc_collects_what_a_failed_run_left_and_keeps_the_rest(
    gc_ws: Workspace, tmp_path: Path, operation: str
) -> None:
    ws = gc_ws
    data = ws.register_dataset(
        "t", write_jsonl(tmp_path / "t.jsonl", [{"text": "a"}]), shape="text"
    ).ref
    model = ws.register_model("m", make_model_folder(tmp_path / "m")).ref
    ws.attach_evidence(
        data,
        kind="validation",
        digest=ws.get(data).digest,
        metrics={"ok": 1},
        files={"notes": _file(tmp_path / "notes.txt", "validated")},
    )
    kept = _blobs(ws)
    with pytest.raises(LmopsError):
        ws.run_stage("data_preparation", operation, inputs={"dataset": data})
    left = {d: n for d, n in _blobs(ws).items() if d not in kept}
    assert left, "the failing plugin stored nothing; the test exercises nothing"
    assert ws.runs()[0].status == "failed"

    within_grace = ws.gc()
    assert (within_grace["blobs_deleted"], within_grace["bytes_freed"]) == (0, 0)
    assert within_grace["blobs_kept_recent"] == len(left)
    assert set(_blobs(ws)) == set(kept) | set(left)

    report = ws.gc(older_than_seconds=0)
    assert report["blobs_deleted"] == len(left)
    assert report["bytes_freed"] == sum(left.values())
    assert report["blobs_referenced"] == len(kept)
    assert _blobs(ws) == kept
    assert all(ws.artifacts.backend.verify(d) for d in kept)
    ws.export(data, tmp_path / "out" / "data.jsonl")
    ws.export(model, tmp_path / "out" / "model")
    assert ws.verify_audit().ok
    assert ws.gc(older_than_seconds=0)["blobs_deleted"] == 0
    ws.close()


def test_wrong_subject_leaves_nothing_behind_after_gc(gc_ws: Workspace, tmp_path: Path) -> None:
    ws = gc_ws
    data = ws.register_dataset(
        "t", write_jsonl(tmp_path / "t.jsonl", [{"text": "a"}]), shape="text"
    ).ref
    kept = _blobs(ws)
    with pytest.raises(LmopsError, match="ghost"):
        ws.run_stage("data_preparation", "wrong-subject", inputs={"dataset": data})
    ws.gc(older_than_seconds=0)
    assert _blobs(ws) == kept
    ws.close()


def _file(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_lease_protects_blobs_whatever_their_age(sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    with ws.artifacts.lease("run-in-flight"):
        info = ws.artifacts.put_bytes(b"about to be referenced")
        _age(ws, info.digest, 10_000)
        report = ws.gc(older_than_seconds=0)
        assert report["blobs_deleted"] == 0 and report["blobs_kept_leased"] == 1
        assert ws.artifacts.backend.exists(info.digest)
    assert ws.gc(older_than_seconds=0)["blobs_deleted"] == 1
    assert not ws.artifacts.backend.exists(info.digest)


def test_storing_old_content_again_refreshes_it(sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    info = ws.artifacts.put_bytes(b"old content, stored again")
    _age(ws, info.digest, 10_000)
    again = ws.artifacts.put_bytes(b"old content, stored again")
    assert not again.created
    report = ws.gc(older_than_seconds=3600)
    assert report["blobs_deleted"] == 0 and report["blobs_kept_recent"] == 1
    _age(ws, info.digest, 10_000)
    assert ws.gc(older_than_seconds=3600)["blobs_deleted"] == 1


def test_lease_of_a_dead_writer_is_abandoned(sqlite_ws: Workspace) -> None:
    ws = sqlite_ws
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    backend = ws.artifacts.backend
    lease = backend.open_lease("crashed-run")
    info = backend.put_stream(_stream(b"written by a process that died"), lease=lease)
    path = backend.root / "leases" / f"{lease}.lease"  # type: ignore[attr-defined]
    header, rest = path.read_text().split("\n", 1)
    path.write_text(json.dumps({**json.loads(header), "pid": int(dead.stdout)}) + "\n" + rest)
    old = time.time() - 10_000
    os.utime(path, (old, old))
    _age(ws, info.digest, 10_000)
    report = ws.gc(older_than_seconds=3600)
    assert (report["blobs_deleted"], report["stale_leases"]) == (1, 1)
    assert not path.exists()


def test_a_model_folder_keeps_its_members(sqlite_ws: Workspace, tmp_path: Path) -> None:
    ws = sqlite_ws
    ref = ws.register_model("m", make_model_folder(tmp_path / "m")).ref
    members = _blobs(ws)
    assert len(members) > 1
    assert ws.gc(older_than_seconds=0)["blobs_deleted"] == 0
    assert _blobs(ws) == members
    ws.export(ref, tmp_path / "again")


def test_unreadable_folder_manifest_stops_gc_before_deleting(
    sqlite_ws: Workspace, tmp_path: Path
) -> None:
    ws = sqlite_ws
    ref = ws.register_model("m", make_model_folder(tmp_path / "m")).ref
    orphan = ws.artifacts.put_bytes(b"unreferenced")
    manifest = ws.artifacts.backend.local_path(ws.get(ref).digest)  # type: ignore[attr-defined]
    manifest.chmod(0o644)
    manifest.write_bytes(b"not a manifest")
    with pytest.raises(IntegrityError):
        ws.gc(older_than_seconds=0)
    assert ws.artifacts.backend.exists(orphan.digest)


def test_grace_is_a_setting_and_must_be_sane(sqlite_home: Path) -> None:
    ws = Workspace.open(make_settings(sqlite_home, gc_grace_seconds=0))
    try:
        ws.artifacts.put_bytes(b"orphan")
        assert ws.gc()["blobs_deleted"] == 1
        with pytest.raises(ValidationError, match="grace period"):
            ws.gc(older_than_seconds=-1)
    finally:
        ws.close()


def test_cli_reports_what_was_freed(sqlite_home: Path) -> None:
    env = {
        "LMOPS_HOME": str(sqlite_home),
        "LMOPS_LOAD_ENTRY_POINTS": "false",
        "COLUMNS": "200",
    }
    ws = Workspace.open(make_settings(sqlite_home))
    ws.artifacts.put_bytes(b"x" * 1234)
    ws.close()
    result = CliRunner().invoke(app, ["gc", "--older-than", "0"], env=env)
    assert result.exit_code == 0, result.output
    assert "freed 1 unreferenced blobs (1234 bytes)" in result.output
    result = CliRunner().invoke(app, ["gc", "--older-than", "0", "--json"], env=env)
    assert json.loads(result.output)["blobs_deleted"] == 0


def _age(ws: Workspace, digest: str, seconds: float) -> None:
    path = ws.artifacts.backend.local_path(digest)  # type: ignore[attr-defined]
    old = time.time() - seconds
    os.utime(path, (old, old))


def _stream(data: bytes):  # type: ignore[no-untyped-def]
    import io

    return io.BytesIO(data)


GC_DURING_RUN = textwrap.dedent("""
    import os, subprocess, sys, time
    from lmops_core import hookimpl, StageResult
    from tests.plugin_steps import Step, text_output

    def runs_gc(context):
        base = context.workdir.parent
        home = base.parent.parent
        old = time.time() - 10_000
        os.utime(base, (old, old))
        env = {**os.environ, "LMOPS_HOME": str(home), "LMOPS_LOAD_ENTRY_POINTS": "false"}
        done = subprocess.run([sys.executable, "-c", "from lmops_core.cli import main; main()",
                               "gc", "--older-than", "0"], env=env, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        survived = text_output(context, "out.jsonl", '{"text": "the run survived gc"}\\n')
        return StageResult(outputs=[survived])

    @hookimpl
    def register_data_steps(register):
        register(Step("runs-gc", "ages its own run folder, then runs `lmops gc --older-than 0` "
                      "meanwhile", runs_gc))
""")


def test_gc_during_a_run_leaves_the_run_alone(tmp_path: Path) -> None:
    ws = plugin_ws(tmp_path, None, GC_DURING_RUN, "gc_during_run.py")
    try:
        data = ws.register_dataset(
            "t", write_jsonl(tmp_path / "t.jsonl", [{"text": "a"}]), shape="text"
        ).ref
        outcome = ws.run_stage("data_preparation", "runs-gc", inputs={"dataset": data})
        assert ws.get(outcome.output("dataset")).record_count == 1  # type: ignore[attr-defined]
        assert list((ws.artifacts.backend.root / "leases").iterdir()) == []  # type: ignore[attr-defined]
    finally:
        ws.close()
