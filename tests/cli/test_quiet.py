"""`lmops stage` keeps the ML libraries' output off the terminal and in a log."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from tests.cli.conftest import Shell
from tests.conftest import run_python, write_jsonl

REPO = Path(__file__).resolve().parents[2]

# What the libraries do during a stage: lm-eval runs `git describe` in the working directory
# (stderr not captured), tqdm draws a bar, transformers-style code warns and logs.
NOISY = textwrap.dedent("""
    import logging, sys, warnings
    from pathlib import Path
    from lmops_core.cli.common import err_console
    from lmops_core.cli.quiet import library_output_to

    log = Path(sys.argv[1])
    with library_output_to(log):
        from lm_eval.loggers.utils import get_git_commit_hash
        get_git_commit_hash()
        from tqdm import tqdm
        for _ in tqdm(range(3), desc="library-bar", disable=False):
            pass
        warnings.warn("a library warning nobody can act on", UserWarning)
        logging.getLogger("transformers").warning("an advisory")
        print("library-print", file=sys.stderr)
        err_console.print("lmops-progress")
    err_console.print("lmops-after")
""")


def test_library_output_goes_to_the_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "stage.log"
    not_a_repo = tmp_path / "work"
    not_a_repo.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
        "GIT_CEILING_DIRECTORIES": str(tmp_path),
    }
    done = run_python(NOISY, str(log), cwd=not_a_repo, env=env)
    assert done.stderr.splitlines() == ["lmops-progress", "lmops-after"]
    assert done.stdout == ""
    kept = log.read_text()
    for noise in (
        "fatal: not a git repository",
        "a library warning nobody can act on",
        "an advisory",
        "library-print",
    ):
        assert noise in kept, noise


def test_stage_ends_with_the_metrics_it_recorded(shell: Shell, tmp_path: Path) -> None:
    data = write_jsonl(tmp_path / "qa.jsonl", [{"prompt": "a", "response": "b"}] * 3)
    shell.ok("datasets", "register", "qa", str(data), "--shape", "instruction")
    result = shell.ok("stage", "data_preparation", "dedup-exact", "-i", "dataset=dataset:qa@1")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("run ") and lines[0].endswith(" succeeded")
    assert lines[1] == "  dataset: dataset:qa@2"
    assert lines[2].startswith("  evidence #")
    assert lines[2].endswith(
        "data_step on dataset:qa@2: records_in=3  records_out=1  records_removed=2"
    )
    assert result.stderr == ""  # nothing from libraries, and no log worth naming


def test_the_quiet_switches_are_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    from lmops_core.cli.quiet import QUIET_ENV, quiet_environment

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "info")  # the user's own choice is kept
    with quiet_environment():
        assert os.environ["TQDM_DISABLE"] == QUIET_ENV["TQDM_DISABLE"]
        assert os.environ["TRANSFORMERS_VERBOSITY"] == "info"
    assert "TQDM_DISABLE" not in os.environ
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "info"


NOISY_PLUGIN = textwrap.dedent("""
    import sys
    import warnings

    from lmops_core import hookimpl


    class NoisyTrainer:
        name = "noisy-fail"
        description = "warns and prints like an ML library, then fails"

        def run(self, context):
            warnings.warn("deep inside a library", UserWarning)
            print("a library's progress bar", file=sys.stderr)
            raise RuntimeError("the operation failed")


    @hookimpl
    def register_trainers(register):
        register(NoisyTrainer())
""")


def test_a_failed_stage_names_the_log(shell: Shell, tmp_path: Path) -> None:
    plugin = tmp_path / "noisy_plugin.py"
    plugin.write_text(NOISY_PLUGIN)
    shell.env["LMOPS_PLUGINS"] = str(plugin)
    result = shell("stage", "training", "noisy-fail")
    assert result.exit_code == 1, result.output
    assert "the operation failed" in result.stderr
    assert "deep inside a library" not in result.stderr
    assert "progress bar" not in result.stderr
    [log] = (shell.home / "logs").glob("stage-training-noisy-fail-*.log")
    assert f"library output: {log}" in result.stderr
    kept = log.read_text()
    assert "deep inside a library" in kept and "a library's progress bar" in kept
