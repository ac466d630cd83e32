"""docs/cli.md is the current command line, and every `lmops ...` command the docs name exists."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path
from typing import Any

import typer

from lmops_core.cli import app
from lmops_core.plugins import load_plugins
from lmops_core.settings import Settings
from tests.docs.snippets import RUN, blocks

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_INLINE = re.compile(r"`(lmops [^`]+)`")


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("gen_cli_docs",
                                                  REPO / "scripts" / "gen_cli_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_md_is_current() -> None:
    committed = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    assert committed == _generator().render(), "docs/cli.md is stale: run scripts/gen_cli_docs.py"


def _plugin_command_names(tmp_path: Path) -> set[str]:
    """Top-level commands the first-party plugins add (lmops-serve's serve-model)."""
    extra = typer.Typer()
    host = load_plugins(Settings(home=tmp_path))
    host.hook.register_commands(cli=extra)
    return {c.name or c.callback.__name__ for c in extra.registered_commands if c.callback} | {
        g.name for g in extra.registered_groups if g.name}


def _named_commands() -> list[tuple[str, str]]:
    """``(where, command line)`` for every `lmops ...` in inline code or in shell blocks."""
    found = []
    for doc in DOCS:
        rel = doc.relative_to(REPO).as_posix()
        if rel == "docs/cli.md":
            continue
        for n, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            found += [(f"{rel}:{n}", m.group(1)) for m in _INLINE.finditer(line)]
        for block in blocks(doc, name=rel):
            if RUN.get(block.language) != "bash":
                continue
            for n, line in enumerate(block.text.splitlines(), block.line + 1):
                line = re.sub(r"(^|\s)#.*", "", line)          # a shell comment
                for m in re.finditer(r"(?:^|[\s(|])(lmops [^|;)#]+)", line):
                    found.append((f"{rel}:{n}", m.group(1).strip()))
    return found


def _resolve(words: list[str], plugin_commands: set[str]) -> str | None:
    """None when ``words`` (after `lmops`) name an existing command, else what is wrong."""
    command: Any = typer.main.get_command(app)
    ctx = command.context_class(command, info_name="lmops")
    path = ["lmops"]
    for word in words:
        if word.startswith("-") or not hasattr(command, "list_commands"):
            return None
        if len(path) == 1 and word in plugin_commands:
            return None
        sub = command.get_command(ctx, word)
        if sub is None:
            if any(ch in word for ch in "|/"):  # `keys create|export-public` names several
                bad = [w for w in re.split(r"[|/]", word) if command.get_command(ctx, w) is None]
                return f"{' '.join(path)} has no command {'/'.join(bad)}" if bad else None
            return f"{' '.join(path)} has no command {word!r}"
        command, path = sub, [*path, word]
        ctx = command.context_class(command, info_name=word, parent=ctx)
    return None


def test_every_command_the_docs_name_exists(tmp_path: Path) -> None:
    plugin_commands = _plugin_command_names(tmp_path)
    assert "serve-model" in plugin_commands
    problems = []
    for where, line in _named_commands():
        try:
            words = shlex.split(line.split("#")[0])
        except ValueError:
            words = line.split()
        words = [w for w in words[1:] if not w.startswith("$")]
        words = [w.rstrip(")`,.;") for w in words]
        problem = _resolve(words, plugin_commands)
        if problem:
            problems.append(f"{where}: `{line}`: {problem}")
    assert not problems, "\n".join(problems)
