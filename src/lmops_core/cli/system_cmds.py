"""``lmops init|plugins|audit|gc|stage``: operating the store."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from lmops_core.cli.common import (
    RichStageProgress,
    console,
    err_console,
    open_workspace,
    print_json,
    table,
)
from lmops_core.contracts import Stage
from lmops_core.plugins import load_plugins
from lmops_core.settings import get_settings

audit_app = typer.Typer(help="Inspect and verify the tamper-evident audit log.",
                        no_args_is_help=True)


def init(admin: Annotated[str | None, typer.Option(
        help="Make NAME the first admin of a store that has none; prints their token once.")
        ] = None) -> None:
    """Create (or upgrade) the store under LMOPS_HOME / LMOPS_DATABASE_URL."""
    with open_workspace() as ws:
        console.print(f"lmops store ready: database {ws.db.dialect}, artifacts {ws.artifacts.uri}, "
                      f"home {ws.settings.home}")
        if admin is not None:
            token = ws.governance.bootstrap_admin(admin)
            console.print(f"{admin} is the first admin. Their token (shown once, only its hash "
                          "is stored; keep it secret, e.g. as LMOPS_TOKEN):")
            console.print(token, highlight=False, soft_wrap=True)


def plugins(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List loaded plugins, their versions, the hooks and operations each provides."""
    host = load_plugins(get_settings())
    ops: dict[str, list[str]] = {}
    for stage, table_ in host.operations.items():
        for name, reg in table_.items():
            ops.setdefault(reg.plugin, []).append(f"{stage.value}:{name}")
    if as_json:
        print_json({"plugins": [{"name": p.name, "version": p.version, "source": p.source,
                                 "hooks": list(p.hooks), "operations": ops.get(p.name, [])}
                                for p in host.plugins],
                    "failures": [{"name": f.name, "reason": f.reason} for f in host.failures]})
        return
    table("plugins", ["name", "version", "source", "hooks", "operations"],
          [[p.name, p.version or "", p.source, ", ".join(p.hooks), ", ".join(ops.get(p.name, []))]
           for p in host.plugins])
    for failure in host.failures:
        err_console.print(f"[yellow]{failure}[/]")


@audit_app.command("verify")
def audit_verify() -> None:
    """Re-hash the whole chain and check the signed head; exit 1 and name the first bad event."""
    with open_workspace() as ws:
        result = ws.verify_audit()
        decisions = ws.verify_decisions()  # identity: every approval's signature
    if result.ok and decisions.ok:
        console.print(f"[green]{result}[/]")
        console.print(f"[green]{decisions.decisions_checked} signed decision(s) and "
                      f"{decisions.keys_checked} signing key(s) verified[/]")
        return
    if not result.ok:
        err_console.print(f"[red]{result}[/]")
    if not decisions.ok:
        err_console.print(f"[red]forged or altered: {decisions.first_problem}[/] "
                          f"({len(decisions.problems)} problem(s) in all)")
    raise typer.Exit(1)


@audit_app.command("log")
def audit_log(subject: str | None = None, action: str | None = None, after: int = 0,
              limit: int = 50, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show audit events in order, optionally filtered."""
    with open_workspace() as ws:
        events = ws.audit_events(subject=subject, action=action, after_seq=after, limit=limit)
    if as_json:
        print_json([e.model_dump() for e in events])
        return
    table("audit events", ["seq", "time", "actor", "action", "subject", "after"],
          [[e.seq, e.ts, e.actor, e.action, e.subject, json.dumps(e.after, default=str)[:70]]
           for e in events])


def gc(older_than: Annotated[float, typer.Option(
        help="Only sweep files older than this many seconds.")] = 3600.0) -> None:
    """Remove abandoned temporary uploads and stale run folders."""
    with open_workspace() as ws:
        report = ws.gc(older_than_seconds=older_than)
    console.print(f"swept {report['temporary_uploads']} temporary uploads and "
                  f"{report['stale_work_files']} stale work files")


def stage(
    stage_name: Annotated[str, typer.Argument(metavar="STAGE",
                                              help="data_preparation, training, compression, "
                                                   "evaluation, explainability, deployment, "
                                                   "monitoring")],
    operation: Annotated[str, typer.Argument(help="Operation name, see `lmops plugins`.")],
    input_: Annotated[list[str] | None, typer.Option("--input", "-i",
                                                     help="ROLE=TYPE:NAME@VERSION; repeatable.")] = None,
    param: Annotated[list[str] | None, typer.Option("--param", "-p",
                                                    help="KEY=JSON value; repeatable.")] = None,
    seed: int | None = None,
) -> None:
    """Run a plugin's operation for a lifecycle stage and record what it produced."""
    inputs: dict[str, str] = {}
    for item in input_ or []:
        role, sep, ref = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected ROLE=REF, got {item!r}", param_hint="--input")
        inputs[role] = ref
    params: dict[str, object] = {}
    for item in param or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--param")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    try:
        stage_enum = Stage(stage_name)
    except ValueError:
        raise typer.BadParameter(f"unknown stage {stage_name!r}", param_hint="STAGE") from None
    with open_workspace() as ws:
        outcome = ws.run_stage(stage_enum, operation, inputs=inputs, params=params, seed=seed,
                               progress=RichStageProgress())
    console.print(f"run {outcome.run_id} succeeded")
    for role, ref in outcome.outputs.items():
        console.print(f"  {role}: {ref}")
    if outcome.evidence_ids:
        console.print(f"  evidence: {', '.join(f'#{i}' for i in outcome.evidence_ids)}")


def serve(
    host: Annotated[str, typer.Option(help="Bind address (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8650,
) -> None:
    """Run the admin API (FastAPI + uvicorn) for reviewers; bearer tokens, default deny."""
    from lmops_core.api.app import serve as run_server

    console.print(f"lmops admin API on http://{host}:{port} (docs at /docs)")
    run_server(host=host, port=port)
