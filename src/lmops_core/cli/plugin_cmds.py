"""``lmops plugin new``: start a plugin distribution from the template."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from lmops_core.cli.common import JsonOpt, console, print_json
from lmops_core.errors import AlreadyExistsError, ValidationError

plugin_app = typer.Typer(help="Create plugins.", no_args_is_help=True)
_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")


def create_plugin(name: str, dest: Path, *, description: str = "a plugin for lmops") -> Path:
    """Write a plugin distribution ``lmops-NAME`` from the shipped template into ``dest``."""
    if not _NAME.fullmatch(name):
        raise ValidationError(
            f"invalid plugin name {name!r}: use lower-case words joined by "
            "'-', e.g. 'acme-toxicity'",
            field="name",
        )
    dist = f"lmops-{name}"
    module = f"lmops_{name.replace('-', '_')}"
    target = dest / dist
    if target.exists():
        raise AlreadyExistsError(f"{target} already exists")
    values = {
        "dist": dist,
        "module": module,
        "entry": name,
        "kind": module[6:],
        "description": description.replace('"', "'"),
    }
    template = resources.files("lmops_core") / "data" / "plugin_template"
    files = {
        "pyproject.toml": "pyproject.toml.tmpl",
        "README.md": "README.md.tmpl",
        f"src/{module}/__init__.py": "src/__init__.py.tmpl",
        f"src/{module}/plugin.py": "src/plugin.py.tmpl",
        "tests/conftest.py": "tests/conftest.py.tmpl",
        f"tests/test_{module}.py": "tests/test_plugin.py.tmpl",
    }
    for out_name, tmpl in files.items():
        out = target / out_name
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            (template / tmpl).read_text(encoding="utf-8").format(**values), encoding="utf-8"
        )
    return target


@plugin_app.command("new")
def plugin_new(
    name: Annotated[
        str,
        typer.Argument(help="Short name, e.g. acme-toxicity (distribution lmops-acme-toxicity)."),
    ],
    dest: Annotated[Path, typer.Option(help="Folder to create it in.")] = Path("."),
    description: str = "a plugin for lmops",
    as_json: JsonOpt = False,
) -> None:
    """Create a working plugin distribution: pyproject with the entry point, one hook, a test."""
    target = create_plugin(name, dest, description=description)
    if as_json:
        print_json({"path": str(target), "distribution": target.name})
        return
    console.print(
        f"created {target}\nnext: pip install -e '{target}[test]' && pytest {target}/tests",
        markup=False,
        highlight=False,
    )
