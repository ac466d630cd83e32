"""A writer killed with SIGKILL mid-upload never leaves a partial artifact visible."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from lmops_core.cli import app
from lmops_core.settings import Settings
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder

KILLS = 12


def test_sigkill_mid_upload_leaves_store_consistent(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folder = make_model_folder(tmp_path / "model", payload=os.urandom(24 << 20))
    Workspace.open(Settings(home=home, load_entry_points=False)).close()
    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for kill in range(KILLS):
        child = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("crash_writer.py")),
                str(home),
                str(folder),
            ],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"ready"
        if kill % 2:
            time.sleep(rng.uniform(0.05, 0.6))  # anywhere in the writer's work
        else:
            _wait_for_a_partial_upload(home / "artifacts" / "tmp", child)
        child.send_signal(signal.SIGKILL)
        child.wait()

    tmp_dir = home / "artifacts" / "tmp"
    leftovers = list(tmp_dir.iterdir())
    ws = Workspace.open(Settings(home=home, load_entry_points=False))
    # Every blob visible under a digest is complete and matches it.
    digests = list(ws.artifacts.backend.iter_digests())
    assert digests, "no upload ever completed; the test did not exercise anything"
    assert all(ws.artifacts.backend.verify(d) for d in digests)
    # Every registered version's folder can be exported and verified.
    versions = ws.list_versions("model", "crashy") if ws.list_assets("model") else []
    for v in versions:
        ws.export(v.ref, tmp_path / "check" / str(v.version))
    assert [v.version for v in versions] == list(range(1, len(versions) + 1))
    assert ws.verify_audit().ok
    ws.close()

    # gc sweeps what the killed writers left behind.
    result = CliRunner().invoke(
        app,
        ["gc", "--older-than", "0"],
        env={"LMOPS_HOME": str(home), "LMOPS_LOAD_ENTRY_POINTS": "false"},
    )
    assert result.exit_code == 0, result.output
    assert f"swept {len(leftovers)} temporary uploads" in result.output
    assert list(tmp_dir.iterdir()) == []
    assert leftovers, "no kill landed mid-upload; increase the payload or the kill count"


def _wait_for_a_partial_upload(tmp_dir: Path, child: subprocess.Popen[bytes]) -> None:
    """Return once the writer has a temporary upload open (or has exited), so the kill that
    follows lands mid-upload however busy the machine is."""
    while child.poll() is None and not (tmp_dir.is_dir() and any(tmp_dir.iterdir())):
        time.sleep(0.001)
