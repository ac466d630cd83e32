"""``lmops report REF``: write a model version's validation report as HTML and/or Markdown."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lmops_core.cli.choices import GovernedStage
from lmops_core.cli.common import JsonOpt, console, print_json, read_workspace
from lmops_core.errors import ValidationError
from lmops_core.safepaths import join_inside

if TYPE_CHECKING:
    from lmops_core.compliance import PackReport
    from lmops_core.reports import Report


class ReportFormat(StrEnum):
    """Which renderings ``lmops report`` writes."""

    html = "html"
    md = "md"
    both = "both"


def report(
    ref: Annotated[str, typer.Argument(help="Model version, e.g. model:assistant@3.")],
    to: Annotated[
        GovernedStage, typer.Option("--to", help="Stage the policy evaluation judges.")
    ] = "production",
    out: Annotated[
        Path, typer.Option("--out", help="Folder to write the report into.", file_okay=False)
    ] = Path("."),
    fmt: Annotated[
        ReportFormat, typer.Option("--format", help="html, md or both.")
    ] = ReportFormat.both,
    pack: Annotated[
        str | None,
        typer.Option(
            "--pack",
            help="Write the compliance report of this pack (an installed pack's id or a pack "
            "file) instead of the validation report; --to is then unused.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the validation report of a model version for a model-risk reviewer, or with
    --pack its compliance report: every clause of the pack met, not met or not evidenced."""
    from lmops_core.compliance import find_pack, render_pack_report
    from lmops_core.reports import render_report

    with read_workspace() as ws:
        if pack is None:
            rendered: Report | PackReport = render_report(ws, ref, to=to)
            prefix = "report"
        else:
            chosen = find_pack(ws.governance.policies_dir, ws.plugins, pack)
            rendered = render_pack_report(ws, chosen, ref)
            prefix = f"compliance-{chosen.id}"
        version = ws.get(rendered.ref)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValidationError(f"cannot create report folder {out}: {exc}", field="out") from exc
    stem = f"{prefix}-{version.name}-{version.version}"
    written: list[Path] = []
    if fmt in (ReportFormat.html, ReportFormat.both):
        written.append(join_inside(out, f"{stem}.html", what="report file"))
        written[-1].write_text(rendered.html, encoding="utf-8")
    if fmt in (ReportFormat.md, ReportFormat.both):
        written.append(join_inside(out, f"{stem}.md", what="report file"))
        written[-1].write_text(rendered.markdown, encoding="utf-8")
    if as_json:
        print_json(
            {"ref": rendered.ref, "digest": rendered.digest, "written": [str(p) for p in written]}
        )
        return
    for path in written:
        console.print(f"wrote {path}", highlight=False, soft_wrap=True)
    console.print(f"digest {rendered.digest}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``report`` command to the ``lmops`` app."""
    app.command("report")(report)


__all__ = ["ReportFormat", "register", "report"]
