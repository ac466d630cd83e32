"""Fenced code blocks of the Markdown docs, and what the docs test does with each.

Every fence must name its language. ``python`` and ``bash``/``sh``/``shell`` blocks run, in
order, one process per file (Python blocks share one namespace, as in a reader's session).
Blocks that show output or file contents say so by their language (``text``, ``console``,
``json``, ``yaml``, ``cel``, ``http``, ``toml``) and are not run. A shell block that sets up
a machine or runs the test suite itself is marked ``bash not-run``: it is checked (its syntax,
and every script, test or benchmark path it names exists) but not run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

RUN = {"python": "python", "bash": "bash", "sh": "bash", "shell": "bash"}
SHOWN = frozenset({"text", "console", "json", "yaml", "cel", "http", "toml"})
NOT_RUN = "not-run"
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


class SnippetError(ValueError):
    """A block the docs test cannot classify, or an unclosed fence."""


@dataclass(frozen=True)
class Block:
    """One fenced block: where it starts, its language, attributes and text."""

    path: str
    line: int
    language: str
    attrs: tuple[str, ...]
    text: str

    @property
    def runs(self) -> bool:
        return self.language in RUN and NOT_RUN not in self.attrs

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def blocks(path: Path, *, name: str | None = None) -> list[Block]:
    """Every fenced block of a Markdown file, in order."""
    shown = name or path.name
    out: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info, start = m["fence"], m["info"].strip().split(), i + 1
        body: list[str] = []
        i += 1
        while i < len(lines) and not re.match(rf"^ {{0,3}}{re.escape(fence)}\s*$", lines[i]):
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise SnippetError(f"{shown}:{start}: fence never closed")
        i += 1
        if not info:
            raise SnippetError(
                f"{shown}:{start}: a fenced block must name its language "
                f"(one of {', '.join(sorted({*RUN, *SHOWN}))})"
            )
        language, attrs = info[0], tuple(info[1:])
        if language not in RUN and language not in SHOWN:
            raise SnippetError(f"{shown}:{start}: unknown block language {language!r}")
        if NOT_RUN in attrs and language not in RUN:
            raise SnippetError(f"{shown}:{start}: only shell or python blocks can be not-run")
        out.append(Block(shown, start, language, attrs, "\n".join(body) + "\n"))
    return out
