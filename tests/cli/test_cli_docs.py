"""docs/cli.md carries the current commands and exit codes (generated, checked here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_cli_reference_is_current() -> None:
    # A fresh process: the app as shipped, without commands that plugins add at run time.
    env = {
        **os.environ,
        "LMOPS_LOAD_ENTRY_POINTS": "false",
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
    }
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gen_cli_docs.py"), "--check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr or "docs/cli.md is stale: run scripts/gen_cli_docs.py"
