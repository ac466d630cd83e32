"""Listing the commands imports neither the store nor what plugin operations need."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: Modules a command may need when it runs, but `lmops --help` must not import.
HEAVY = (
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "fastapi",
    "pandas",
    "pyarrow",
    "numpy",
    "torch",
    "transformers",
    "presidio_analyzer",
    "cel",
    "lmops_core.workspace",
    "lmops_core.governance.workflow",
    "lmops_onnx.operations",
    "lmops_presidio.step",
    "lmops_safety.evaluator",
    "lmops_shap.explainer",
    "lmops_hf.sft",
)

_PROBE = """
import sys
from lmops_core.cli import main
sys.argv = ["lmops", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print(",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


def _imported_by(*args: str, home: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "LMOPS_HOME": home},
    )
    last = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""
    return [m for m in last.split(",") if m]


def test_help_imports_no_heavy_module(tmp_path: Path) -> None:
    assert _imported_by("--help", home=str(tmp_path)) == []
    assert _imported_by("models", "--help", home=str(tmp_path)) == []


def test_a_command_that_runs_still_gets_the_store(tmp_path: Path) -> None:
    # The probe is not blind: a read command on a missing store imports the workspace.
    assert "lmops_core.workspace" in _imported_by("models", "list", home=str(tmp_path))
