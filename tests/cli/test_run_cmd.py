"""``lmops run``: a pipeline file run from the command line."""

from __future__ import annotations

import gc
from pathlib import Path

from typer.testing import CliRunner

from lmops_core.cli import app


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
