"""``lmops packs``: list the installed compliance packs and lint pack files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lmops_core.cli.common import JsonOpt, console, err_console, print_json, table
from lmops_core.cli.exit_codes import ExitCode

packs_app = typer.Typer(
    help="Compliance packs: a standard's clauses mapped to policy rules.", no_args_is_help=True
)


@packs_app.command("list")
def packs_list(as_json: JsonOpt = False) -> None:
    """Every pack on offer (the policy folder's packs/, then plugins'), linted on load."""
    from lmops_core.compliance import load_pack, pack_sources
    from lmops_core.governance.policy_facts import PolicySource
    from lmops_core.plugins import load_plugins
    from lmops_core.settings import get_settings

    current = get_settings()
    host = load_plugins(current)
    folder = PolicySource(settings=current, plugins=host).policies_dir
    rows = []
    for source in pack_sources(folder, host):
        pack = load_pack(source.path)
        doc = pack.document
        rows.append(
            {
                "id": pack.id,
                "version": doc.version,
                "language": doc.language,
                "standard": doc.standard,
                "clauses": len(doc.clauses),
                "offered_by": source.offered_by,
                "path": str(source.path),
                "digest": pack.digest,
            }
        )
    if as_json:
        print_json(rows)
        return
    columns = ["id", "version", "language", "standard", "clauses", "offered_by", "path"]
    table("compliance packs", columns, [[row[c] for c in columns] for row in rows])


@packs_app.command("lint")
def packs_lint(
    file: Annotated[Path, typer.Argument(help="A pack file.", exists=True, dir_okay=False)],
    as_json: JsonOpt = False,
) -> None:
    """Check a pack: schema, CEL, every clause mapped to rules that exist; exit 2 on error."""
    from lmops_core.cli.json_shapes import lint_issue_json
    from lmops_core.compliance import lint_pack

    issues = lint_pack(file)
    errors = sum(1 for i in issues if i.severity == "error")
    if as_json:
        print_json(
            {
                "ok": not errors,
                "path": str(file),
                "errors": errors,
                "warnings": len(issues) - errors,
                "issues": [lint_issue_json(i) for i in issues],
            }
        )
    else:
        for issue in issues:
            (err_console if issue.severity == "error" else console).print(
                str(issue), highlight=False, markup=False
            )
    if errors:
        if not as_json:
            err_console.print(f"[red]{errors} error(s)[/]")
        raise typer.Exit(ExitCode.INVALID_INPUT)
    if not as_json:
        console.print(f"[green]{file} clean[/] ({len(issues)} warning(s))")


__all__ = ["packs_app", "packs_lint", "packs_list"]
