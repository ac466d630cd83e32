"""``lmops run``: a pipeline file run from the command line."""

from __future__ import annotations

import gc
from pathlib import Path

from typer.testing import CliRunner

from lmops_core.cli import app
from lmops_core.cli.exit_codes import ExitCode
from tests.cli.conftest import Shell


def test_run_finishes_and_spares_the_exit_its_final_collection(tmp_path: Path) -> None:
    path = tmp_path / "refusals.yaml"
    path.write_text(
        "apiVersion: lmops/v1\nkind: Pipeline\nname: refusals\nsteps:\n  - id: data\n"
        "    register_dataset: {name: refusals, shape: instruction,\n"
        "                       path: package:lmops_core/data/demo/refusals.jsonl}\n"
    )
    gc.unfreeze()  # nothing frozen before the command
    # --verbose: quieting the libraries would silence warnings and logging in this test process.
    try:
        result = CliRunner().invoke(
            app, ["run", str(path), "--verbose"], env={"LMOPS_HOME": str(tmp_path / "home")}
        )
        assert result.exit_code == 0, result.output
        assert "dataset:refusals@1" in result.stdout and "pipeline finished" in result.stdout
        # What was left when the work was done is frozen: the interpreter's last collection
        # has nothing to walk on the way out.
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


WAITING_PIPELINE = """\
apiVersion: lmops/v1
kind: Pipeline
name: to-production
actor: eng
steps:
  - id: request
    promote: {ref: "model:chat@1", to: production, expect: pending}
  - id: decided
    await_approval: {request: "${request}"}
  - id: data
    register_dataset: {name: refusals, shape: instruction,
                       path: package:lmops_core/data/demo/refusals.jsonl}
"""


def test_run_stopped_at_await_approval_says_so_and_resumes(governed: Shell, tmp_path: Path) -> None:
    path = tmp_path / "to-production.yaml"
    path.write_text(WAITING_PIPELINE)
    stopped = governed("run", str(path), "--verbose", who="eng")
    assert stopped.exit_code == ExitCode.WAITING, stopped.output
    assert "pipeline finished" not in stopped.output
    (request,) = governed.json("requests", "list")["items"]
    assert (
        f"pipeline stopped at step 'decided': waiting for people to decide request "
        f"{request['id']} (model:chat@1 to production)" in stopped.stdout
    )
    assert f"lmops run {path} --resume" in stopped.stdout
    # Nothing decided yet: resuming stops again at the same step.
    again = governed("run", str(path), "--resume", "--verbose", who="eng")
    assert again.exit_code == ExitCode.WAITING, again.output
    for user, role in (("val", "validator"), ("risk", "risk_officer")):
        governed.ok(
            "requests", "approve", request["id"], "--role", role, "--comment", "ok", who=user
        )
    done = governed("run", str(path), "--resume", "--verbose", who="eng")
    assert done.exit_code == 0, done.output
    assert "dataset:refusals@1" in done.stdout and "pipeline finished" in done.stdout
    assert governed.json("requests", "list", "--status", "all")["total"] == 1  # not asked again
    # Finished: nothing is left to resume.
    gone = governed("run", str(path), "--resume", "--verbose", who="eng")
    assert gone.exit_code == ExitCode.NOT_FOUND and "no stopped run" in gone.output


def test_resume_refuses_a_pipeline_file_changed_since_it_stopped(
    governed: Shell, tmp_path: Path
) -> None:
    path = tmp_path / "to-production.yaml"
    path.write_text(WAITING_PIPELINE)
    assert governed("run", str(path), "--verbose", who="eng").exit_code == ExitCode.WAITING
    path.write_text(WAITING_PIPELINE.replace("refusals", "other"))
    changed = governed("run", str(path), "--resume", "--verbose", who="eng")
    assert changed.exit_code == ExitCode.CONFLICT, changed.output
    assert "changed since its run stopped at step 'decided'" in changed.output
