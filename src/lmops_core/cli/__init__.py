"""The ``lmops`` command line: thin over the SDK, so CLI, API and SDK cannot disagree."""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from lmops_core.cli import (
    deploy_cmds,
    governance_cmds,
    monitor_cmds,
    plugin_cmds,
    registry_cmds,
    report_cmds,
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
app.command("init")(system_cmds.init)
app.command("plugins")(system_cmds.plugins)
app.command("gc")(system_cmds.gc)
app.command("serve")(system_cmds.serve)
# `stage STAGE OPERATION --help` also describes the operation: the command handles --help.
app.command("stage", context_settings={"help_option_names": []})(system_cmds.stage)
app.command("lineage")(registry_cmds.lineage)
app.add_typer(system_cmds.audit_app, name="audit")
app.add_typer(registry_cmds.datasets_app, name="datasets")
app.add_typer(registry_cmds.models_app, name="models")
app.add_typer(registry_cmds.prompts_app, name="prompts")
app.add_typer(registry_cmds.runs_app, name="runs")
app.add_typer(registry_cmds.evidence_app, name="evidence")
app.add_typer(registry_cmds.suites_app, name="suites")
app.command("promote")(governance_cmds.promote)
app.command("revoke")(governance_cmds.revoke)
app.command("revalidate")(governance_cmds.revalidate)
app.add_typer(governance_cmds.policy_app, name="policy")
app.add_typer(governance_cmds.requests_app, name="requests")
app.add_typer(governance_cmds.users_app, name="users")
app.add_typer(governance_cmds.tokens_app, name="tokens")
app.add_typer(plugin_cmds.plugin_app, name="plugin")
app.add_typer(monitor_cmds.monitor_app, name="monitor")
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


# Registered last: the demo module decorates `app` with its command.
from lmops_core.cli import demo  # noqa: E402,F401
