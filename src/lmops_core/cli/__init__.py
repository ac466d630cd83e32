"""The ``lmops`` command line: thin over the SDK, so CLI, API and SDK cannot disagree."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import typer
from typer.core import TyperGroup

from lmops_core.cli import (
    annotation_cmds,
    deploy_cmds,
    governance_cmds,
    monitor_cmds,
    pack_cmds,
    plugin_cmds,
    registry_cmds,
    report_cmds,
    retrain_cmds,
    system_cmds,
)
from lmops_core.cli.exit_codes import exit_code_for, exit_codes_help
from lmops_core.errors import LmopsError
from lmops_core.redaction import redact_text


def fail(exc: LmopsError) -> typer.Exit:
    """Print ``exc`` as one ``Error:`` line on stderr; the exit carrying its code."""
    typer.secho(f"Error: {redact_text(str(exc))}", fg=typer.colors.RED, err=True)
    return typer.Exit(int(exit_code_for(exc)))


class LmopsGroup(TyperGroup):
    """The root command: an lmops error ends any command with one line and its exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except LmopsError as exc:
            raise fail(exc) from exc


app = typer.Typer(
    cls=LmopsGroup,
    name="lmops",
    help="Carry language models through their lifecycle under governance: a registry with "
    "lineage, content-addressed artifacts, evidence, policies, approvals and a tamper-evident "
    "audit log. State lives under LMOPS_HOME (default ~/.lmops) or LMOPS_DATABASE_URL.",
    epilog="Exit codes (see docs/cli.md):\n\n" + exit_codes_help().replace("\n", "\n\n"),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
#: The top-level commands, in the order help lists them.
_COMMANDS: dict[str, Callable[..., Any]] = {
    "init": system_cmds.init,
    "plugins": system_cmds.plugins,
    "gc": system_cmds.gc,
    "serve": system_cmds.serve,
    "stage": system_cmds.stage,
    "lineage": registry_cmds.lineage,
    "promote": governance_cmds.promote,
    "revoke": governance_cmds.revoke,
    "revalidate": governance_cmds.revalidate,
}
#: The command groups, in the order help lists them.
_GROUPS: dict[str, typer.Typer] = {
    "audit": system_cmds.audit_app,
    "datasets": registry_cmds.datasets_app,
    "models": registry_cmds.models_app,
    "prompts": registry_cmds.prompts_app,
    "runs": registry_cmds.runs_app,
    "evidence": registry_cmds.evidence_app,
    "suites": registry_cmds.suites_app,
    "guards": registry_cmds.guards_app,
    "policy": governance_cmds.policy_app,
    "packs": pack_cmds.packs_app,
    "requests": governance_cmds.requests_app,
    "users": governance_cmds.users_app,
    "tokens": governance_cmds.tokens_app,
    "plugin": plugin_cmds.plugin_app,
    "monitor": monitor_cmds.monitor_app,
    "retrain": retrain_cmds.retrain_app,
    "annotation": annotation_cmds.annotation_app,
    "review": annotation_cmds.review_app,
}
for _name, _command in _COMMANDS.items():
    # `stage STAGE OPERATION --help` also describes the operation: the command handles --help.
    _settings: dict[str, Any] | None = {"help_option_names": []} if _name == "stage" else None
    app.command(_name, context_settings=_settings)(_command)
for _name, _group in _GROUPS.items():
    app.add_typer(_group, name=_name)
deploy_cmds.register(app)
report_cmds.register(app)


def _add_plugin_commands() -> None:
    from lmops_core.plugins import load_plugins
    from lmops_core.settings import get_settings

    try:
        # Only the commands: the operations (and their heavy imports) wait for a command to run.
        host = load_plugins(get_settings(), registrations=False)
    except LmopsError as exc:
        typer.echo(f"warning: plugins not loaded: {exc}", err=True)
        return
    host.hook.register_commands(cli=app)


def main() -> None:
    """Entry point of the ``lmops`` console script."""
    try:
        _add_plugin_commands()
        app()
    except LmopsError as exc:
        sys.exit(fail(exc).exit_code)


# Registered last: these modules decorate groups above with their commands.
from lmops_core.cli import demo, prompt_cmds  # noqa: E402,F401
