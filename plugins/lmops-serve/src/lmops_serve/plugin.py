"""Hook implementations of lmops-serve: the ``serve-model`` command, its serving targets and
the ``GuardConfig`` kind of guard configuration."""

from __future__ import annotations

from typing import Any

from lmops_core import hookimpl
from lmops_core.contracts import Register


@hookimpl
def register_commands(cli: Any) -> None:
    """Add ``lmops serve-model``."""
    from lmops_serve.cli import serve_model

    cli.command("serve-model")(serve_model)


@hookimpl
def register_serving_targets(register: Register) -> None:
    """Offer ``local`` (``lmops serve-model`` on 127.0.0.1) and ``in-process`` (a thread)."""
    from lmops_serve.target import InProcessServingTarget, LocalServingTarget

    register(LocalServingTarget())
    register(InProcessServingTarget())


@hookimpl
def register_guard_configs(register: Register) -> None:
    """Offer ``GuardConfig`` documents (:mod:`lmops_serve.guard_config`): checked, run."""
    from lmops_serve.guard_checks import GUARD_CONFIG_TYPE

    register(GUARD_CONFIG_TYPE)
