"""Hook implementations of lmops-serve: the ``serve-model`` command."""

from __future__ import annotations

from typing import Any

from lmops_core import hookimpl


@hookimpl
def register_commands(cli: Any) -> None:
    """Add ``lmops serve-model``."""
    from lmops_serve.cli import serve_model

    cli.command("serve-model")(serve_model)
