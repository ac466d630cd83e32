"""What every CLI command shares: opening the workspace, printing, progress bars."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from lmops_core.redaction import redact
from lmops_core.settings import Settings, get_settings
from lmops_core.workspace import Workspace

console = Console()
# Warnings and errors are single lines that scripts may grep: never wrap them.
err_console = Console(stderr=True, soft_wrap=True)


def open_workspace(actor: str | None = None) -> Workspace:
    """The workspace named by the environment, reporting plugins that failed to load."""
    ws = Workspace.open(get_settings(), actor=actor)
    for failure in ws.plugins.failures:
        err_console.print(f"[yellow]warning:[/] {failure}")
    return ws


def settings() -> Settings:
    return get_settings()


def print_json(value: Any) -> None:
    """Print ``value`` as JSON, secrets masked (:func:`lmops_core.redaction.redact`)."""
    console.print_json(json.dumps(redact(json.loads(json.dumps(value, default=str)))))


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    console.print(t)


@contextmanager
def byte_progress(description: str, total: int | None) -> Iterator[Any]:
    """A transfer progress bar; yields a callback taking a byte count."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), TimeElapsedColumn(), console=err_console,
                  transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


class RichStageProgress:
    """A :class:`~lmops_core.contracts.ProgressReporter` drawing rich progress bars."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: Any = None

    def start(self, description: str, total: float | None = None) -> None:
        self.finish()
        self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                  TextColumn("{task.completed:.0f}/{task.total}"),
                                  TextColumn("{task.fields[info]}"), TimeElapsedColumn(),
                                  console=err_console, transient=True)
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, info="")

    def advance(self, amount: float = 1.0, **fields: Any) -> None:
        if self._progress is None:
            return
        info = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in fields.items())
        self._progress.update(self._task, advance=amount, info=info)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
