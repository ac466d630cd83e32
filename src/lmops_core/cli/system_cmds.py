"""``lmops init|plugins|audit|gc|stage``: operating the store."""

from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from lmops_core.cli.common import (
    JsonOpt,
    RichStageProgress,
    clip,
    console,
    err_console,
    open_workspace,
    print_json,
    read_workspace,
    table,
)
from lmops_core.cli.exit_codes import ExitCode
from lmops_core.cli.json_shapes import (
    audit_event_json,
    guard_json,
    model_runtime_json,
    serving_target_json,
    stage_outcome_json,
    verify_json,
)
from lmops_core.contracts import Stage
from lmops_core.evidence_summary import summarize_metrics
from lmops_core.plugins import PluginHost, Registered, load_plugins
from lmops_core.settings import get_settings

if TYPE_CHECKING:
    from lmops_core.registry.schemas import EvidencePublic
    from lmops_core.workspace import Workspace

audit_app = typer.Typer(
    help="Inspect and verify the tamper-evident audit log.", no_args_is_help=True
)


def init(
    admin: Annotated[
        str | None,
        typer.Option(
            help="Make NAME the first admin of a store that has none; prints their token once."
        ),
    ] = None,
) -> None:
    """Create (or upgrade) the store under LMOPS_HOME / LMOPS_DATABASE_URL."""
    with open_workspace() as ws:
        console.print(
            f"lmops store ready: database {ws.db.dialect}, artifacts {ws.artifacts.uri}, "
            f"home {ws.settings.home}"
        )
        if admin is not None:
            token = ws.governance.bootstrap_admin(admin)
            console.print(
                f"{admin} is the first admin. Their token (shown once, only its hash "
                "is stored; keep it secret, e.g. as LMOPS_TOKEN):"
            )
            console.print(token, highlight=False, soft_wrap=True)


def plugins(
    as_json: JsonOpt = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Also describe every operation (parameters, input roles, "
            "evidence recorded), every evidence kind (metrics, headline), and every model "
            "runtime, guard and serving target.",
        ),
    ] = False,
) -> None:
    """List loaded plugins, their versions, the hooks and operations each provides."""
    host = load_plugins(get_settings())
    ops: dict[str, list[str]] = {}
    for stage, table_ in host.operations.items():
        for name, reg in table_.items():
            ops.setdefault(reg.plugin, []).append(f"{stage.value}:{name}")
    if as_json:

        def names_by(table_: dict[str, Registered], plugin: str) -> list[str]:
            return sorted(name for name, reg in table_.items() if reg.plugin == plugin)

        print_json(
            {
                "plugins": [
                    {
                        "name": p.name,
                        "version": p.version,
                        "source": p.source,
                        "hooks": list(p.hooks),
                        "operations": ops.get(p.name, []),
                        "model_runtimes": names_by(host.model_runtimes, p.name),
                        "guards": names_by(host.guards, p.name),
                        "guard_configs": names_by(host.guard_configs, p.name),
                        "serving_targets": names_by(host.serving_targets, p.name),
                    }
                    for p in host.plugins
                ],
                "model_runtimes": [
                    model_runtime_json(reg.plugin, reg.value)
                    for _, reg in sorted(host.model_runtimes.items())
                ],
                "guards": [
                    guard_json(reg.plugin, reg.value) for _, reg in sorted(host.guards.items())
                ],
                "serving_targets": [
                    serving_target_json(reg.plugin, reg.value)
                    for _, reg in sorted(host.serving_targets.items())
                ],
                "failures": [{"name": f.name, "reason": f.reason} for f in host.failures],
            }
        )
        return
    table(
        "plugins",
        ["name", "version", "source", "hooks", "operations"],
        [
            [p.name, p.version or "", p.source, ", ".join(p.hooks), ", ".join(ops.get(p.name, []))]
            for p in host.plugins
        ],
    )
    if verbose:
        for stage, table_ in host.operations.items():
            for name in sorted(table_):
                console.print()
                for line in operation_help(host, stage, name):
                    console.print(escape(line), highlight=False, soft_wrap=True)
        console.print()
        for line in [*evidence_kinds_help(host), "", *runtimes_help(host)]:
            console.print(escape(line), highlight=False, soft_wrap=True)
    for failure in host.failures:
        err_console.print(f"[yellow]{failure}[/]")


def operation_help(host: PluginHost, stage: Stage, name: str) -> list[str]:
    """What operation ``name`` of ``stage`` declares, as lines of text."""
    reg = host.operation(stage, name)
    spec = reg.spec
    assert spec is not None
    lines = [f"{stage.value} {name} (plugin {reg.plugin}): {spec.description}"]
    if spec.input_roles is None:
        lines.append("  inputs: any role (undeclared)")
    elif not spec.input_roles:
        lines.append("  inputs: none")
    else:
        lines.append("  inputs:")
        lines.extend(
            f"    --input {role}={' or '.join(types)}:NAME@VERSION"
            for role, types in spec.input_roles.items()
        )
    if spec.params_model is None:
        lines.append("  parameters: unchecked (undeclared)")
    elif not spec.params():
        lines.append("  parameters: none")
    else:
        lines.append("  parameters:")
        for p in spec.params():
            default = "required" if p.required else f"default {p.default}"
            about = f": {p.description}" if p.description else ""
            lines.append(f"    --param {p.name}=<{p.type}> ({default}){about}")
    kinds = ", ".join(spec.evidence_kinds) or "none declared"
    lines.append(f"  evidence recorded: {kinds}")
    return lines


def evidence_kinds_help(host: PluginHost) -> list[str]:
    """Every declared evidence kind with its metrics (``*`` marks a headline metric)."""
    lines = ["evidence kinds (* = headline metric):"]
    for name in sorted(host.evidence_kinds):
        reg = host.evidence_kinds[name]
        kind = reg.value
        lines.append(f"  {name} (plugin {reg.plugin}): {kind.description}")
        for m in kind.metrics.values():
            unit = f" [{m.unit}]" if m.unit else ""
            better = f", {m.direction} is better" if m.direction != "none" else ""
            lines.append(f"    {'*' if m.headline else ' '} {m.name}: {m.type}{unit}{better}")
    return lines


def runtimes_help(host: PluginHost) -> list[str]:
    """Every model runtime, guard, guard configuration kind and serving target plugins
    register, with the plugin."""
    lines = ["model runtimes (by the model kind they open):"]
    for kind, reg in sorted(host.model_runtimes.items()):
        runtime = reg.value
        base = '; needs a base model (input role "base")' if runtime.needs_base else ""
        lines.append(f"  {kind} (plugin {reg.plugin}): {runtime.description}")
        lines.append(
            f"    engine {runtime.engine}; can {', '.join(sorted(runtime.capabilities))}{base}"
        )
    if not host.model_runtimes:
        lines.append("  none registered")
    for title, table_ in (
        ("guards", host.guards),
        ("guard configuration kinds", host.guard_configs),
        ("serving targets", host.serving_targets),
    ):
        lines.extend(["", f"{title}:"])
        lines.extend(
            f"  {name} (plugin {reg.plugin}): {reg.value.description}"
            for name, reg in sorted(table_.items())
        )
        if not table_:
            lines.append("  none registered")
    return lines


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option(
            "--checkpoint",
            help="A checkpoint file kept by an auditor (or a bundle manifest "
            "embedding one): the history up to it must be unchanged.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-hash the chain, check the signed head, genesis and every checkpoint found; exit 6
    (integrity) and name the first bad event or the missing checkpoint."""
    with read_workspace() as ws:
        result = ws.verify_audit(checkpoint=checkpoint)
        decisions = ws.verify_decisions()  # every approval's signature
    if as_json:
        print_json(verify_json(result, decisions))
        if not (result.ok and decisions.ok):
            raise typer.Exit(ExitCode.INTEGRITY)
        return
    if result.ok and decisions.ok:
        console.print(f"[green]{escape(str(result))}[/]")
        console.print(
            f"[green]{decisions.decisions_checked} signed decision(s) and "
            f"{decisions.keys_checked} signing key(s) verified[/]"
        )
        return
    if not result.ok:
        err_console.print(f"[red]{escape(str(result))}[/]")
    if not decisions.ok:
        err_console.print(
            f"[red]forged or altered: {escape(str(decisions.first_problem))}[/] "
            f"({len(decisions.problems)} problem(s) in all)"
        )
    raise typer.Exit(ExitCode.INTEGRITY)


@audit_app.command("checkpoint")
def audit_checkpoint(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Also write the checkpoint to this file (keep it somewhere safe)."
        ),
    ] = None,
) -> None:
    """Sign the current head and keep the checkpoint in the artifact store and the sink.

    Prints the checkpoint as JSON (always)."""
    with read_workspace() as ws:
        value = ws.write_audit_checkpoint()
    if out is not None:
        out.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
    print_json(value)


@audit_app.command("log")
def audit_log(
    subject: str | None = None,
    action: str | None = None,
    after: int = 0,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Show audit events in order, optionally filtered."""
    with read_workspace() as ws:
        events = ws.audit_events(subject=subject, action=action, after_seq=after, limit=limit)
    if as_json:
        print_json([audit_event_json(e) for e in events])
        return
    table(
        "audit events",
        ["seq", "time", "actor", "action", "subject", "after"],
        [
            [e.seq, e.ts, e.actor, e.action, e.subject, clip(json.dumps(e.after, default=str), 70)]
            for e in events
        ],
    )


def gc(
    older_than: Annotated[
        float | None,
        typer.Option(
            help="Grace period in seconds: only delete what is older (default: the "
            "LMOPS_GC_GRACE_SECONDS setting, 3600).",
            min=0,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove abandoned uploads, stale run folders and artifact blobs nothing references."""
    with read_workspace() as ws:
        report = ws.gc(older_than_seconds=older_than)
    if as_json:
        print_json(report)
        return
    console.print(
        f"swept {report['temporary_uploads']} temporary uploads and "
        f"{report['stale_work_files']} stale work files"
    )
    console.print(
        f"freed {report['blobs_deleted']} unreferenced blobs "
        f"({report['bytes_freed']} bytes); kept {report['blobs_referenced']} "
        f"referenced, {report['blobs_kept_recent']} younger than the grace period, "
        f"{report['blobs_kept_leased']} held by runs in flight"
    )


def stage(
    ctx: typer.Context,
    stage_name: Annotated[
        str | None,
        typer.Argument(
            metavar="STAGE",
            show_default=False,
            help="data_preparation, training, compression, evaluation, explainability, deployment, "
            "monitoring",
        ),
    ] = None,
    operation: Annotated[
        str | None,
        typer.Argument(
            metavar="OPERATION", show_default=False, help="Operation name, see `lmops plugins -v`."
        ),
    ] = None,
    input_: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="ROLE=TYPE:NAME@VERSION; repeatable.")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="KEY=JSON value; repeatable.")
    ] = None,
    seed: int | None = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Let the ML libraries print to the terminal too.")
    ] = False,
    as_json: JsonOpt = False,
    help_: Annotated[
        bool,
        typer.Option(
            "--help",
            "-h",
            help="Show this message and exit; after STAGE and OPERATION, also what "
            "the operation takes (inputs, parameters) and records.",
        ),
    ] = False,
) -> None:
    """Run a plugin's operation for a lifecycle stage and record what it produced.

    One progress display on stderr; what the ML libraries print (their progress bars,
    warnings, a `git` they run) goes to a log under LMOPS_HOME/logs, named at the end.
    Ends with each evidence record and its headline metrics.
    """
    if help_:
        typer.echo(ctx.get_help())
        if stage_name is not None and operation is not None:
            host = load_plugins(get_settings())
            typer.echo("")
            typer.echo("\n".join(operation_help(host, _stage_of(stage_name), operation)))
        raise typer.Exit(0)
    if stage_name is None or operation is None:
        missing = "STAGE" if stage_name is None else "OPERATION"
        raise typer.BadParameter("missing argument (see --help)", param_hint=missing)
    from lmops_core.cli.quiet import library_output_to, quiet_environment

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
    stage_enum = _stage_of(stage_name)
    # Quiet before the workspace loads plugins, which import their libraries.
    with nullcontext() if verbose else quiet_environment(), open_workspace() as ws:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        log = ws.settings.home / "logs" / f"stage-{stage_enum.value}-{operation}-{stamp}.log"
        # Quiet runs send what the libraries print to the log, named afterwards.
        output = nullcontext() if verbose else library_output_to(log)
        try:
            with output:
                outcome = ws.run_stage(
                    stage_enum,
                    operation,
                    inputs=inputs,
                    params=params,
                    seed=seed,
                    progress=RichStageProgress(),
                )
        finally:
            if not verbose:
                _name_log(log)
        outputs = {role: ws.get(ref) for role, ref in outcome.outputs.items()}
        evidence = _recorded_evidence(
            ws, [*outcome.outputs.values(), *inputs.values()], outcome.evidence_ids
        )
        kinds = ws.plugins.declared_kinds()
    if as_json:
        print_json(stage_outcome_json(outcome.run_id, outputs, evidence, kinds=kinds))
        return
    console.print(f"run {outcome.run_id} succeeded", highlight=False)
    for role, ref in outcome.outputs.items():
        console.print(f"  {role}: {ref}", highlight=False)
    for ev in evidence:
        headline = summarize_metrics(ev.kind, ev.metrics, kinds=kinds)
        shown = "  ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in headline.items()
        )
        console.print(
            f"  evidence #{ev.id} {ev.kind} on {ev.subject}: {shown or '(no metrics)'}",
            highlight=False,
            markup=False,
        )


def _name_log(log: Path) -> None:
    """Say where the libraries' output went, when they wrote anything."""
    if log.exists() and log.stat().st_size:
        err_console.print(f"library output: {log}", highlight=False, soft_wrap=True)


def _recorded_evidence(ws: Workspace, refs: list[str], ids: list[int]) -> list[EvidencePublic]:
    """The evidence records ``ids`` of a run, looked up on the versions it read and wrote."""
    wanted = set(ids)
    found: dict[int, EvidencePublic] = {}
    for ref in dict.fromkeys(refs):
        for ev in ws.evidence(ref):
            if ev.id in wanted:
                found[ev.id] = ev
    return [found[i] for i in ids if i in found]


def _stage_of(name: str) -> Stage:
    try:
        return Stage(name)
    except ValueError:
        choices = ", ".join(repr(s.value) for s in Stage)
        raise typer.BadParameter(f"{name!r} is not one of {choices}", param_hint="STAGE") from None


def serve(
    host: Annotated[str, typer.Option(help="Bind address (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8650,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes sharing the port. On Linux each listens on a socket "
            "of its own (SO_REUSEPORT), so open connections are spread evenly; one that "
            "dies is started again. Each reads its settings from the environment "
            "(LMOPS_*); console sign-ins are kept in the store, so any process serves any "
            "signed-in browser. On SQLite, writes (decisions) still take the database's "
            "one write lock in turn.",
        ),
    ] = 1,
) -> None:
    """Run the admin API (FastAPI + uvicorn) for reviewers; bearer tokens, default deny."""
    from lmops_core.api.app import serve as run_server

    console.print(
        f"lmops admin API on http://{host}:{port} (docs at /docs)"
        + (f", {workers} worker processes" if workers > 1 else "")
    )
    run_server(host=host, port=port, workers=workers)
