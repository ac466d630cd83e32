"""``lmops datasets|models|prompts|runs|evidence|lineage``: the registry from the shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from lmops_core.cli.choices import (
    MODEL_KIND_HELP,
    GovernedStage,
    RiskTier,
    Shape,
    check_model_kind,
)
from lmops_core.cli.common import (
    JsonOpt,
    byte_progress,
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
    asset_json,
    evidence_json,
    lineage_edge_json,
    run_json,
    version_json,
)
from lmops_core.contracts import AssetType, Stage

if TYPE_CHECKING:
    from lmops_core.registry.schemas import VersionPublic

datasets_app = typer.Typer(help="Register, list and show dataset versions.", no_args_is_help=True)
models_app = typer.Typer(
    help="Register, list, search and show model versions.", no_args_is_help=True
)
prompts_app = typer.Typer(help="Create, list and show prompt versions.", no_args_is_help=True)
runs_app = typer.Typer(help="List and show recorded stage runs.", no_args_is_help=True)
evidence_app = typer.Typer(help="List the evidence attached to a version.", no_args_is_help=True)
suites_app = typer.Typer(
    help="Register, list and show evaluation-suite versions.", no_args_is_help=True
)
guards_app = typer.Typer(
    help="Register, list and show runtime guard configuration versions.", no_args_is_help=True
)


def _parse_pairs(items: list[str] | None, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=what)
        out[key] = value
    return out


def _list_assets(asset_type: AssetType, as_json: bool) -> None:
    with read_workspace() as ws:
        assets = ws.list_assets(asset_type)
    if as_json:
        print_json([asset_json(a) for a in assets])
        return
    table(
        f"{asset_type}s",
        ["name", "latest", "risk tier", "created by", "created at"],
        [
            [
                a.name,
                a.latest_version,
                a.risk_tier or "",
                a.created_by,
                a.created_at.isoformat(timespec="seconds"),
            ]
            for a in assets
        ],
    )


def _show(ref: str, asset_type: AssetType, as_json: bool) -> None:
    if ":" not in ref.split("@")[0]:
        ref = f"{asset_type}:{ref}"
    with read_workspace() as ws:
        version = ws.get(ref)
        evidence = ws.evidence(ref)
        edges = ws.lineage(ref, depth=1)
        kinds = ws.plugins.declared_kinds()
    if as_json:
        print_json(
            {
                "version": version_json(version),
                "evidence": [evidence_json(e, kinds=kinds) for e in evidence],
                "lineage": [lineage_edge_json(e) for e in edges],
            }
        )
        return
    console.print(f"[bold]{version.ref}[/]  digest {version.digest}", highlight=False)
    for key, value in version.model_dump(exclude={"ref", "digest", "meta"}).items():
        console.print(f"  {key}: {value}", highlight=False, markup=False)
    console.print(f"  meta: {json.dumps(version.meta, default=str)}", highlight=False, markup=False)
    for e in edges:
        console.print(f"  derived from {e.parent} (run {e.run_id or '-'})", highlight=False)
    for ev in evidence:
        console.print(
            f"  evidence #{ev.id} {ev.kind} by {ev.plugin}: "
            f"{clip(json.dumps(ev.metrics, default=str), 160)}",
            highlight=False,
            markup=False,
        )


def _registered(version: VersionPublic, detail: str, as_json: bool) -> None:
    """What a register command prints: the new version (as JSON with ``--json``)."""
    if as_json:
        print_json(version_json(version))
    else:
        console.print(f"registered [bold]{version.ref}[/] ({detail})", highlight=False)


RefArg = Annotated[str, typer.Argument(help="NAME[@VERSION|@ALIAS]")]


def _reading_commands(app: typer.Typer, asset_type: AssetType, plural: str, shown: str) -> None:
    """Add ``list`` and ``show`` to ``app``: every asset type is read the same way."""

    def list_assets(as_json: JsonOpt = False) -> None:
        _list_assets(asset_type, as_json)

    def show(ref: RefArg, as_json: JsonOpt = False) -> None:
        _show(ref, asset_type, as_json)

    list_assets.__doc__ = f"List {plural} and their latest version."
    show.__doc__ = f"Show {shown}."
    app.command("list")(list_assets)
    app.command("show")(show)


# Registered first, so ``list`` and ``show`` lead each group's help as they always did.
_READ_COMMANDS: tuple[tuple[typer.Typer, AssetType, str, str], ...] = (
    (datasets_app, "dataset", "datasets", "a dataset version with its evidence and lineage"),
    (models_app, "model", "models", "a model version with its evidence and lineage"),
    (prompts_app, "prompt", "prompts", "a prompt version"),
    (suites_app, "suite", "evaluation suites", "a suite version"),
    (guards_app, "guard", "guard configurations", "a guard version with its evidence and lineage"),
)
for _app, _asset_type, _plural, _shown in _READ_COMMANDS:
    _reading_commands(_app, _asset_type, _plural, _shown)


@datasets_app.command("register")
def datasets_register(
    name: str,
    path: Annotated[
        Path,
        typer.Argument(
            help="A JSONL or Parquet file, or a folder of Parquet partitions (every *.parquet "
            "file below it; names starting with _ or . are skipped).",
            exists=True,
        ),
    ],
    shape: Annotated[Shape, typer.Option(help="The record shape.")],
    description: str = "",
    drop_invalid: Annotated[
        bool,
        typer.Option(
            help="Skip invalid records (counted as evidence) instead of refusing the file."
        ),
    ] = False,
    partitioned: Annotated[
        bool,
        typer.Option(
            "--partitioned",
            help="Require PATH to be a folder of partitions (a folder is always registered "
            "partitioned: each partition stored as its own artifact, the version's digest the "
            "Merkle root over theirs, its card merged from theirs).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Validate a file, or a folder of Parquet partitions, and register it as the next
    version of dataset NAME.

    A bad record is named by file, row or line, and field, and nothing is registered.
    """
    if partitioned and not path.is_dir():
        raise typer.BadParameter(f"{path} is not a folder of partitions", param_hint="PATH")
    files = [p for p in path.rglob("*.parquet") if p.is_file()] if path.is_dir() else [path]
    total = sum(p.stat().st_size for p in files)
    with open_workspace() as ws, byte_progress(f"ingest {path.name}", total) as cb:
        version = ws.register_dataset(
            name, path, shape=shape, description=description, drop_invalid=drop_invalid, progress=cb
        )
    layout = " in partitions" if version.manifest_digest else ""
    _registered(version, f"{version.record_count} records{layout}, {version.digest}", as_json)


@datasets_app.command("verify")
def datasets_verify(
    ref: RefArg,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Partitions re-hashed at the same time.")
    ] = 4,
    as_json: JsonOpt = False,
) -> None:
    """Re-hash a dataset version and name each partition that is missing or changed.

    For a partitioned version the manifest must hash to its recorded digest and
    the Merkle root over its partitions must be the version's digest; then each
    partition is re-hashed on its own. Exits 6 (integrity) if anything differs.
    """
    if ":" not in ref.split("@")[0]:
        ref = f"dataset:{ref}"
    with read_workspace() as ws:
        result = ws.verify_dataset(ref, workers=workers)
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "digest": result.root,
                "partitions": [
                    {"name": p.name, "digest": p.digest, "status": p.status}
                    for p in result.partitions
                ],
            }
        )
    elif result.ok:
        console.print(
            f"[green]{ref}: {len(result.partitions)} partition(s) verified, {result.root}[/]",
            highlight=False,
        )
    else:
        for bad in result.bad:
            err_console.print(
                f"[red]{escape(ref)}: partition {escape(bad.name)} is {bad.status} "
                f"(expected {bad.digest})[/]",
                highlight=False,
            )
    if not result.ok:
        raise typer.Exit(ExitCode.INTEGRITY)


@models_app.command("register")
def models_register(
    name: str,
    folder: Annotated[
        Path,
        typer.Argument(
            help="A local model folder (Hugging Face layout).", exists=True, file_okay=False
        ),
    ],
    kind: Annotated[
        str, typer.Option(help=MODEL_KIND_HELP, metavar="KIND", callback=check_model_kind)
    ] = "base",
    risk_tier: Annotated[RiskTier | None, typer.Option(help="The risk tier.")] = None,
    description: str = "",
    allow_pickle: Annotated[
        bool,
        typer.Option(
            help="Accept pickle-based or unrecognised files (they can run code when loaded); "
            "needs a policy rule for transition allow-pickle whose role you hold, and is "
            "recorded as pickle_allowed evidence."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Store a model folder by digest and register it as the next version of NAME."""
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    with open_workspace() as ws, byte_progress(f"upload {folder.name}", total) as cb:
        version = ws.register_model(
            name,
            folder,
            kind=kind,
            risk_tier=risk_tier,
            description=description,
            allow_pickle=allow_pickle,
            progress=cb,
        )
    _registered(version, f"{version.kind}, {version.size_bytes} bytes, {version.digest}", as_json)


@models_app.command("search")
def models_search(
    name: Annotated[str | None, typer.Option(help="Name, '*' wildcards allowed.")] = None,
    kind: Annotated[
        str | None, typer.Option(help=MODEL_KIND_HELP, metavar="KIND", callback=check_model_kind)
    ] = None,
    stage: Annotated[
        GovernedStage | None, typer.Option(help="The governed stage it is in.")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option(help="KEY=VALUE, repeatable.")] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option(help="Threshold on evidence metrics, e.g. 'eval.acc>=0.6'; repeatable."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Find model versions by name, kind, stage, tags and metric thresholds."""
    with read_workspace() as ws:
        found = ws.search(
            "model",
            name=name,
            kind=kind,
            stage=stage,
            tags=_parse_pairs(tag, "--tag"),
            metrics=metric or [],
            limit=limit,
        )
    if as_json:
        print_json([version_json(v) for v in found])
        return
    table(
        "model versions",
        ["ref", "kind", "stage", "tags", "created"],
        [
            [
                v.ref,
                getattr(v, "kind", ""),
                v.stage or "",
                v.tags,
                v.created_at.isoformat(timespec="seconds"),
            ]
            for v in found
        ],
    )


@models_app.command("tag")
def models_tag(
    ref: str,
    pairs: Annotated[list[str], typer.Argument(help="KEY=VALUE ...")],
    as_json: JsonOpt = False,
) -> None:
    """Set tags on a model version (with --json, print the version as tagged)."""
    full = ref if ":" in ref.split("@")[0] else f"model:{ref}"
    with open_workspace() as ws:
        for key, value in _parse_pairs(pairs, "tags").items():
            ws.tag(full, key, value)
        version = ws.get(full)
    if as_json:
        print_json(version_json(version))
    else:
        console.print(f"tags set on {version.ref}: {version.tags}", highlight=False, markup=False)


@prompts_app.command("create")
def prompts_create(
    name: str,
    template: Annotated[str, typer.Option(help="Template with {variable} placeholders.")],
    variable: Annotated[
        list[str] | None, typer.Option(help="Declared variable; repeatable.")
    ] = None,
    system_prompt: Annotated[str, typer.Option(help="Text sent before every rendering.")] = "",
    target_model: Annotated[
        str | None, typer.Option(help="The model version the prompt is written for.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a prompt template as the next version of NAME."""
    with open_workspace() as ws:
        version = ws.create_prompt(
            name,
            template,
            variables=variable,
            system_prompt=system_prompt,
            target_model=target_model,
        )
    _registered(version, version.digest, as_json)


@runs_app.command("list")
def runs_list(
    stage: Annotated[Stage | None, typer.Option(help="Only runs of this stage.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List recent runs."""
    with read_workspace() as ws:
        runs = ws.runs(stage=stage.value if stage else None, limit=limit)
    if as_json:
        print_json([run_json(r) for r in runs])
        return
    table(
        "runs",
        ["id", "stage", "operation", "plugin", "status", "actor", "started"],
        [
            [
                r.id,
                r.stage,
                r.operation,
                r.plugin,
                r.status,
                r.actor,
                r.started_at.isoformat(timespec="seconds"),
            ]
            for r in runs
        ],
    )


@runs_app.command("show")
def runs_show(run_id: str, as_json: JsonOpt = False) -> None:
    """Show one run: params, metrics, inputs and outcome (as JSON with --json)."""
    with read_workspace() as ws:
        run = ws.run(run_id)
    if as_json:
        print_json(run_json(run))
        return
    for key, value in run_json(run).items():
        text = json.dumps(value) if isinstance(value, dict | list) else value
        console.print(f"{key}: {text}", highlight=False, markup=False)


@evidence_app.command("list")
def evidence_list(
    ref: Annotated[str, typer.Argument(help="TYPE:NAME@VERSION")],
    kind: str | None = None,
    paired: Annotated[
        str | None,
        typer.Option(help="Only a prompt's evidence measured with this model version."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List evidence attached to a version."""
    with read_workspace() as ws:
        items = ws.evidence(ref, kind=kind, paired=paired)
        kinds = ws.plugins.declared_kinds()
    if as_json:
        print_json([evidence_json(e, kinds=kinds) for e in items])
        return
    table(
        f"evidence on {ref}",
        ["id", "kind", "stage", "plugin", "with model", "metrics", "created"],
        [
            [
                e.id,
                e.kind,
                e.stage,
                e.plugin,
                e.paired or "",
                clip(json.dumps(e.metrics, default=str), 80),
                e.created_at.isoformat(timespec="seconds"),
            ]
            for e in items
        ],
    )


def lineage(
    ref: Annotated[str, typer.Argument(help="TYPE:NAME@VERSION")],
    down: Annotated[bool, typer.Option("--down", help="Show descendants instead.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show what a version was derived from (or, with --down, what was derived from it)."""
    with read_workspace() as ws:
        edges = ws.lineage(ref, direction="down" if down else "up")
    if as_json:
        print_json([lineage_edge_json(e) for e in edges])
        return
    if not edges:
        console.print(f"{ref}: no lineage recorded")
    for e in edges:
        console.print(
            f"{e.child}  <-{e.relation}-  {e.parent}   (run {e.run_id or '-'})", highlight=False
        )


@suites_app.command("register")
def suites_register(
    name: str,
    folder: Annotated[
        Path,
        typer.Argument(
            help="Folder with suite.yaml and its task folders.", exists=True, file_okay=False
        ),
    ],
    description: str = "",
    as_json: JsonOpt = False,
) -> None:
    """Register a suite folder as the next version of NAME (a changed task makes a new one)."""
    with open_workspace() as ws:
        version = ws.register_suite(name, folder, description=description)
    _registered(version, version.digest, as_json)


@guards_app.command("register")
def guards_register(
    name: str,
    path: Annotated[
        Path,
        typer.Argument(help="A guard configuration file (YAML).", exists=True, dir_okay=False),
    ],
    risk_tier: Annotated[RiskTier | None, typer.Option(help="The risk tier.")] = None,
    description: str = "",
    as_json: JsonOpt = False,
) -> None:
    """Check a guard configuration file and register it as the next version of NAME.

    The plugin for the document's kind (lmops-serve: GuardConfig) validates it; the
    version's digest is the configuration's own, so only a change of what the guard
    lets through makes a different digest. Promotion follows the policy's guard rules.
    """
    with open_workspace() as ws:
        version = ws.register_guard(name, path, risk_tier=risk_tier, description=description)
    _registered(version, f"{version.config_kind} {version.config_name}, {version.digest}", as_json)
