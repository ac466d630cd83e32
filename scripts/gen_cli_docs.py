"""Write docs/cli.md from the `lmops` command line (`lmops_core.cli.app`).

    .venv/bin/python scripts/gen_cli_docs.py          # rewrite docs/cli.md
    .venv/bin/python scripts/gen_cli_docs.py --check  # exit 1 if it is out of date

Every command and sub-command, in the order `lmops --help` lists them, with its help text,
usage, arguments and options (type, default, required) as the command line itself declares
them. Commands that installed plugins add at run time are not part of the core app, so they
are not listed here: `lmops --help` shows them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import typer

from lmops_core.cli import app

OUT = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
HEADER = """# The `lmops` command line

Generated from `lmops_core.cli.app` by `scripts/gen_cli_docs.py`; do not edit (a test fails
when this file is stale). Commands that installed plugins add (for instance `serve-model` from
lmops-serve) appear in `lmops --help` but not here. Every command that changes something acts
through the credential in `LMOPS_TOKEN` or `LMOPS_SIGNING_KEY` (see [governance.md](governance.md)).
"""


def _subcommands(command: Any, ctx: Any) -> list[tuple[str, Any]]:
    if not hasattr(command, "list_commands"):
        return []
    return [(name, command.get_command(ctx, name)) for name in command.list_commands(ctx)]


def _records(command: Any, ctx: Any, kind: str) -> list[str]:
    out = []
    for param in command.get_params(ctx):
        if param.param_type_name != kind:
            continue
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, text = record
        line = f"* `{' '.join(names.split())}`"
        text = " ".join(text.split())
        out.append(f"{line}: {text}" if text else line)
    return out


def _section(command: Any, ctx: Any, path: list[str], out: list[str]) -> None:
    name = " ".join(path)
    out += [f"{'#' * min(len(path) + 1, 4)} `{name}`", ""]
    if command.help:
        out += [command.help.strip(), ""]
    usage = " ".join(command.collect_usage_pieces(ctx))
    out += ["```console", f"$ {name} {usage}".rstrip(), "```", ""]
    for title, kind in (("Arguments", "argument"), ("Options", "option")):
        records = _records(command, ctx, kind)
        if records:
            out += [f"**{title}**:", "", *records, ""]
    subs = _subcommands(command, ctx)
    if subs:
        out += ["**Commands**:", ""]
        out += [f"* `{n}`: {sub.get_short_help_str(limit=120)}" for n, sub in subs]
        out.append("")
    for n, sub in subs:
        sub_ctx = typer.main.get_command(app).context_class(sub, info_name=n, parent=ctx)
        _section(sub, sub_ctx, [*path, n], out)


def render() -> str:
    """docs/cli.md as the current command line describes itself."""
    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="lmops")
    out = [HEADER]
    _section(root, ctx, ["lmops"], out)
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md is stale")
    args = parser.parse_args()
    text = render()
    if args.check:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale: run scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
