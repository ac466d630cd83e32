"""What every CLI command shares: opening the workspace, printing, progress bars.

Output that scripts read goes to stdout (:data:`console`); progress, warnings
and errors go to stderr (:data:`err_console`). When stdout is not a terminal
(a pipe, a file, a test runner) nothing is wrapped, cut or ellipsised to a
width: tables take the width their cells need.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, ConsoleDimensions
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from lmops_core.errors import NotFoundError

if TYPE_CHECKING:  # imported when a command runs, not to list the commands
    from lmops_core.settings import Settings
    from lmops_core.workspace import Workspace

#: The width rich lays out to when the output is not a terminal: wider than any row we print.
PIPE_WIDTH = 1 << 16


class _Console(Console):
    """A console that lays out to :data:`PIPE_WIDTH` when it does not write to a terminal."""

    @property
    def size(self) -> ConsoleDimensions:
        dims = super().size
        if self.is_terminal:
            return dims
        return ConsoleDimensions(PIPE_WIDTH, dims.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


console: Console = _Console()
# Warnings and errors are single lines that scripts may grep: never wrap them.
err_console: Console = _Console(stderr=True, soft_wrap=True)

#: The ``--json`` option every reporting command takes.
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of text.")]

# The arguments and options of the commands that open a deployment bundle
# (`lmops bundle verify`, a serving plugin's command): written once so they read alike.
BundleArg = Annotated[Path, typer.Argument(help="Bundle folder or .tar.", exists=True)]
KeyFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help="32-byte AES key file (raw, hex or base64); default $LMOPS_BUNDLE_KEY.",
        exists=True,
        dir_okay=False,
    ),
]
TrustedKeysOpt = Annotated[
    list[Path] | None,
    typer.Option(help="Trusted public key PEM (repeatable); default: the keys under LMOPS_HOME."),
]
OfflineOpt = Annotated[
    bool,
    typer.Option("--offline", help="Do not ask the store; the bundle's validity period decides."),
]


def open_workspace(actor: str | None = None, *, create: bool = True) -> Workspace:
    """The workspace named by the environment, reporting plugins that failed to load.

    Commands that only read pass ``create=False``: a store that does not exist
    is then an error (:class:`NotFoundError`, exit code 3) naming where it was
    looked for and where the demo writes its store, and nothing is created.
    """
    from lmops_core.settings import get_settings
    from lmops_core.workspace import Workspace

    current = get_settings()
    try:
        ws = Workspace.open(current, actor=actor, create=create)
    except NotFoundError as exc:
        if "store" not in exc.details:
            raise
        demo = current.home / "demo"
        raise NotFoundError(
            f"{exc.message}: nothing to read there (and nothing was created). Create one with "
            f"`lmops init`, or explore the demo's store: `lmops demo`, then "
            f"LMOPS_HOME={demo} lmops models list",
            **exc.details,
        ) from None
    for failure in ws.plugins.failures:
        err_console.print(f"[yellow]warning:[/] {failure}")
    return ws


def read_workspace(actor: str | None = None) -> Workspace:
    """The workspace of a read command: an existing store, never a new one."""
    return open_workspace(actor, create=False)


def settings() -> Settings:
    from lmops_core.settings import get_settings

    return get_settings()


def print_json(value: Any) -> None:
    """Print ``value`` as JSON on stdout, secrets masked and timestamps in UTC
    (:func:`lmops_core.cli.json_shapes.plain`).

    On a terminal it is highlighted; otherwise it is plain JSON, one document.
    """
    from lmops_core.cli.json_shapes import plain

    text = json.dumps(plain(value), indent=2, ensure_ascii=False)
    if console.is_terminal:
        console.print_json(text)
    else:
        typer.echo(text)


def clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters on a terminal; whole when piped."""
    if console.is_terminal and len(text) > width:
        return text[: width - 1] + "…"
    return text


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """A table on stdout; long cells fold on a narrow terminal and are never ellipsised."""
    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    console.print(t)


@contextmanager
def byte_progress(description: str, total: int | None) -> Iterator[Any]:
    """A transfer progress bar on stderr (a terminal only); yields a callback taking bytes."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


class RichStageProgress:
    """A :class:`~lmops_core.contracts.ProgressReporter` drawing rich progress bars.

    Bars are drawn only when stderr is a terminal: in a log they would be noise."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task: Any = None

    def start(self, description: str, total: float | None = None) -> None:
        self.finish()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:.0f}/{task.total}"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=not err_console.is_terminal,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, info="")

    def advance(self, amount: float = 1.0, **fields: Any) -> None:
        if self._progress is None:
            return
        info = " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items()
        )
        self._progress.update(self._task, advance=amount, info=info)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
