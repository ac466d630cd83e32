"""`lmops plugin new` makes a plugin that installs in a fresh venv and passes its own tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lmops_core.cli import app
from lmops_core.cli.plugin_cmds import create_plugin
from lmops_core.errors import AlreadyExistsError, ValidationError
from tests.conftest import run_command

REPO = Path(__file__).resolve().parents[2]


def test_template_plugin_installs_and_passes_its_tests(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["plugin", "new", "acme-checks", "--dest", str(tmp_path)])
    assert result.exit_code == 0, result.output
    plugin = tmp_path / "lmops-acme-checks"
    assert (plugin / "src" / "lmops_acme_checks" / "plugin.py").is_file()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run(
        [
            str(py),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            str(REPO),
            f"{plugin}[test]",
        ],
        check=True,
        timeout=900,
    )
    run = run_command([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=plugin)
    assert "2 passed" in run.stdout


def test_bad_names_and_existing_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="invalid plugin name 'Acme_Checks'"):
        create_plugin("Acme_Checks", tmp_path)
    create_plugin("x", tmp_path)
    with pytest.raises(AlreadyExistsError, match="lmops-x already exists"):
        create_plugin("x", tmp_path)
