"""Every code block in README.md and docs/*.md runs as written.

Each file's runnable blocks run in order in one fresh temporary folder holding copies of
``examples/``, ``policies/`` and ``docs/``, with ``LMOPS_HOME`` a fresh store inside it, no
other ``LMOPS_*`` setting, and ``lmops`` / ``python`` on the PATH. See ``snippets.py`` for
which blocks run and how a block is marked as output or as not run.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_command
from tests.docs.snippets import RUN, Block, SnippetError, blocks

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COPIED = ("examples", "policies", "docs")
RUNNER = Path(__file__).with_name("run_snippets.py")
#: Paths a not-run block may name; each must exist in the repository.
_CHECKED_PATH = ("scripts/", "tests/", "benchmarks/", "plugins/")


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LMOPS_")}
    env["LMOPS_HOME"] = str(home)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # The sources under test come first, wherever the folder the blocks run in is.
    sources = [str(REPO / "src"), *(str(p) for p in sorted((REPO / "plugins").glob("*/src")))]
    env["PYTHONPATH"] = os.pathsep.join([*sources, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # Quiet progress bars; one thread per library, as the plugins' own tests run (on a shared
    # 2-core machine, torch's threads spinning against each other cost more than they give).
    for name in (
        "TQDM_DISABLE",
        "HF_HUB_DISABLE_PROGRESS_BARS",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
    ):
        env.setdefault(name, "1")
    return env


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_every_block_is_classified(doc: Path) -> None:
    """Every fence names a language the docs test knows; not-run blocks name real paths."""
    for block in blocks(doc, name=_rel(doc)):
        if block.language in RUN and not block.runs:
            _check_not_run(block)


def _check_not_run(block: Block) -> None:
    syntax = subprocess.run(["bash", "-n", "-c", block.text], capture_output=True, text=True)
    assert syntax.returncode == 0, f"{block.where}: {syntax.stderr}"
    for line in block.text.splitlines():
        for word in shlex.split(line, comments=True):
            if word.startswith(_CHECKED_PATH):
                assert (REPO / word).exists(), f"{block.where}: {word} does not exist"


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_blocks_run_as_written(doc: Path, tmp_path: Path) -> None:
    todo = [
        {"where": b.where, "language": RUN[b.language], "text": b.text}
        for b in blocks(doc, name=_rel(doc))
        if b.runs
    ]
    if not todo:  # a page of prose and output only: nothing claims to run
        return
    for name in COPIED:
        shutil.copytree(REPO / name, tmp_path / name)
    plan = tmp_path / ".blocks.json"
    plan.write_text(json.dumps(todo), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(RUNNER), str(plan)],
        cwd=tmp_path,
        env=_env(tmp_path / "home"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-8000:]


def test_a_block_without_a_language_is_refused(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("text\n\n```\nlmops plugins\n```\n", encoding="utf-8")
    with pytest.raises(SnippetError, match=r"x.md:3: a fenced block must name its language"):
        blocks(doc)


def test_an_unclosed_fence_is_refused(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("```python\nprint(1)\n", encoding="utf-8")
    with pytest.raises(SnippetError, match=r"x.md:1: fence never closed"):
        blocks(doc)


def _run_plan(tmp_path: Path, plan: list[dict[str, str]], expect: int) -> str:
    """What the snippet runner prints running ``plan`` (blocks as the CI job lists them);
    the test fails unless it exits ``expect``."""
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    return run_command(
        [sys.executable, RUNNER, path], cwd=tmp_path, timeout=60, expect=expect
    ).stdout


def test_a_failing_block_fails_the_run_and_is_named(tmp_path: Path) -> None:
    plan = [
        {"where": "x.md:1", "language": "python", "text": "x = 1\n"},
        {"where": "x.md:5", "language": "bash", "text": "false\n"},
        {"where": "x.md:9", "language": "python", "text": "print(x)\n"},
    ]
    out = _run_plan(tmp_path, plan, expect=1)
    assert "FAILED: the shell block at x.md:5 exited 1" in out
    assert "x.md:9" not in out


def test_python_blocks_share_one_namespace(tmp_path: Path) -> None:
    plan = [
        {"where": "x.md:1", "language": "python", "text": "x = 41\n"},
        {
            "where": "x.md:5",
            "language": "python",
            "text": "assert x + 1 == 42\nprint('answer', x + 1)\n",
        },
    ]
    assert "answer 42" in _run_plan(tmp_path, plan, expect=0)
