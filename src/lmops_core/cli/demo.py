"""``lmops run PIPELINE`` and ``lmops demo``: a governed lifecycle, step by step, with an account.

The demo is the pipeline shipped in ``lmops_core/data/demo/pipeline.yaml``, run
on a fresh store: by default an embedded one (SQLite and a local artifact folder)
under ``LMOPS_HOME/demo``; with ``LMOPS_DATABASE_URL`` and/or ``LMOPS_ARTIFACT_URI``
set, on those stores (PostgreSQL, an object store), which must be empty. Every
stage runs through its real plugin.
"""

from __future__ import annotations

import gc
import logging
import os
import shutil
import time
import warnings
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.panel import Panel

from lmops_core.cli import app
from lmops_core.cli.common import RichStageProgress, console, err_console, open_workspace
from lmops_core.cli.exit_codes import ExitCode
from lmops_core.errors import ConfigurationError
from lmops_core.settings import Settings, get_settings

if TYPE_CHECKING:
    from lmops_core.pipelines import PipelineRunner, Reporter, StepResult
    from lmops_core.pipelines.stopped import StoppedRun
    from lmops_core.workspace import Workspace


def demo_pipeline_path() -> Path:
    """The pipeline file the demo runs (shipped with lmops)."""
    return Path(str(resources.files("lmops_core") / "data" / "demo" / "pipeline.yaml"))


def _policies_dir() -> Path:
    configured = get_settings().policies_dir
    if configured is not None:
        return configured
    if Path("policies").is_dir():
        return Path("policies").resolve()
    # An editable install from the repository: the policies next to src/.
    repo = Path(__file__).resolve().parents[3] / "policies"
    if repo.is_dir():
        return repo
    raise typer.BadParameter(
        "no policies folder: run from the repository root or set LMOPS_POLICIES_DIR"
    )


def _reporter(started: float) -> Reporter:
    state = {"n": 0}

    def report(event: str, label: str, result: StepResult | None) -> None:
        if event == "start":
            state["n"] += 1
            if console.is_terminal:
                console.rule(f"[bold cyan]{state['n']}. {label}", align="left")
            else:  # a rule would span the whole (unbounded) width of a pipe
                console.print(f"--- {state['n']}. {label}", highlight=False, markup=False)
        elif result is not None and result.summary:
            console.print(result.summary, highlight=False, markup=False)
            console.print(f"[dim]({time.perf_counter() - started:.0f} s)[/]")

    return report


def skip_final_collection() -> None:
    """Spare the interpreter its last garbage collection when a command has finished its work.

    After a pipeline, the ML libraries leave millions of objects; collecting them on the way
    out took seconds (measured: 5.8 s of the demo's exit) before the shell prompt came back.
    Call it only when everything is written and closed: frozen objects are never collected.
    """
    gc.freeze()


def quiet_libraries() -> None:
    """Silence the ML libraries' own progress bars, advisories and warnings.

    The account each step prints, and lmops' own progress bars, are what a
    reader should see; `--verbose` keeps the libraries' output.
    """
    for name, value in (
        ("TQDM_DISABLE", "1"),
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
        ("TRANSFORMERS_VERBOSITY", "error"),
        ("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1"),
    ):
        os.environ.setdefault(name, value)
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)


def run_pipeline_file(
    ws: Workspace, path: Path, *, reporter: Reporter | None = None
) -> dict[str, StepResult]:
    """Run a pipeline file against ``ws`` with a printed account (or ``reporter``) and progress bars."""
    runner = _pipeline_runner(ws, path, reporter, {})
    return runner.run()


def _pipeline_runner(
    ws: Workspace, path: Path, reporter: Reporter | None, given: dict[str, StepResult]
) -> PipelineRunner:
    from lmops_core.pipelines import PipelineRunner, load_pipeline

    return PipelineRunner(
        ws,
        load_pipeline(path),
        base_dir=path.resolve().parent,
        reporter=reporter or _reporter(time.perf_counter()),
        progress=RichStageProgress,
        given=given,
    )


VerboseOpt = Annotated[bool, typer.Option("--verbose", help="Keep the ML libraries' output.")]


@app.command("run")
def run(
    pipeline: Annotated[
        Path, typer.Argument(help="Pipeline YAML file.", exists=True, dir_okay=False)
    ],
    verbose: VerboseOpt = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Carry on the run of this file that stopped to wait.")
    ] = False,
) -> None:
    """Run a pipeline file (steps: grant, register, run stages, promote, approve, bundle...).

    An `await_approval` step whose request is still pending stops the run: it says which
    request it waits for and exits 9 (waiting). Once people have decided, `lmops run FILE
    --resume` runs the steps not yet finished (the file must be unchanged)."""
    from lmops_core.pipelines.stopped import forget_stopped, keep_stopped, resume_results

    if not verbose:
        quiet_libraries()
    with open_workspace() as ws:
        home = ws.settings.home
        runner = _pipeline_runner(
            ws, pipeline, None, resume_results(home, pipeline) if resume else {}
        )
        runner.run()
        if runner.waiting_for is None:
            forget_stopped(home, pipeline)
        else:
            stopped = keep_stopped(
                home, pipeline, runner.pipeline, runner.results, runner.waiting_for
            )
            request = ws.governance.get_request(runner.waiting_for)
    if runner.waiting_for is None:
        console.print("[green]pipeline finished[/]")
        skip_final_collection()
        return
    _print_stopped(stopped, f"{request.ref} to {request.target_stage}", pipeline)
    raise typer.Exit(ExitCode.WAITING)


def _print_stopped(stopped: StoppedRun, what: str, pipeline: Path) -> None:
    console.print(
        f"[yellow]pipeline stopped[/] at step {stopped.step!r}: waiting for people to decide "
        f"request {stopped.waiting_for} ({what})",
        highlight=False,
    )
    if stopped.not_resumable is None:
        console.print(
            f"after the decision, resume it: lmops run {pipeline} --resume", highlight=False
        )
    else:
        console.print(f"it cannot be resumed: {stopped.not_resumable}", highlight=False)


def _print_ending(ws: Workspace, results: dict[str, StepResult], elapsed: float) -> None:
    from lmops_core.registry.db import describe_store

    tuned = results["tuned"].outputs.get("merged", "")
    lines = [
        f"store: {describe_store(ws.settings.resolved_database_url)} (metadata) + "
        f"{ws.settings.resolved_artifact_uri} (artifacts)",
        f"fine-tuned model: {tuned}  (status {ws.get(tuned).status}, stage "
        f"{ws.get(tuned).stage or 'none: approval revoked by the drift policy'})",
        f"signed bundle: {results['bundle'].value}",
        f"inference log (PII redacted): {results['serve'].value}",
        f"alerts: {ws.settings.home / 'alerts.jsonl'}",
    ]
    reports = ws.settings.home / "reports"
    for kind, name in (("explanation", "report.html"), ("drift", "drift_report.html")):
        found = [e for e in ws.evidence(tuned, kind=kind) if name in e.artifacts]
        if found:
            out = ws.artifacts.export_file(found[-1].artifacts[name], reports / f"{kind}.html")
            lines.append(f"{kind} report: {out}")
    from lmops_core.reports import render_report

    report = render_report(ws, tuned, to="production")
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "validation-report.html").write_text(report.html, encoding="utf-8")
    (reports / "validation-report.md").write_text(report.markdown, encoding="utf-8")
    lines.append(
        f"validation report: {reports / 'validation-report.html'} (and .md), "
        f"digest {report.digest[:19]}..."
    )
    shared = "" if _embedded(ws.settings) else " and the same store settings"
    lines.append(
        f"finished in {elapsed:.0f} s; explore with LMOPS_HOME={ws.settings.home}{shared}: "
        "lmops models list / lineage / audit log"
    )
    console.print(Panel("\n".join(lines), title="where things are", expand=False), highlight=False)


@app.command("demo")
def demo(
    write_pipeline: Annotated[
        Path | None,
        typer.Option(help="Only write the demo's pipeline file here, to copy and change."),
    ] = None,
    verbose: VerboseOpt = False,
    scenario: Annotated[
        Literal["lifecycle", "retrain"],
        typer.Option(
            help="lifecycle: the whole governed lifecycle (LMOPS_HOME/demo); retrain: drift "
            "runs the policy's retraining loop, ending in a request for a validator "
            "(LMOPS_HOME/demo-retrain; --write-pipeline writes its retraining pipeline)."
        ),
    ] = "lifecycle",
) -> None:
    """Run the whole governed lifecycle offline on a fresh store.

    By default the store is embedded (SQLite and a local folder) under LMOPS_HOME/demo and
    made anew each time. With LMOPS_DATABASE_URL (PostgreSQL) and/or LMOPS_ARTIFACT_URI
    (s3://bucket/prefix, local://...) set, the demo runs on those stores, which must be empty
    (a new database, an unused prefix): it refuses one that holds anything.
    """
    if scenario == "retrain":  # its own module
        from lmops_core.cli.demo_retrain import retrain_scenario

        retrain_scenario(write_pipeline=write_pipeline, verbose=verbose)
        return
    if write_pipeline is not None:
        shutil.copyfile(demo_pipeline_path(), write_pipeline)
        console.print(f"wrote {write_pipeline}; run it with `lmops run {write_pipeline}`")
        return
    if not verbose:
        quiet_libraries()
    started = time.perf_counter()
    ws, results = run_demo(reporter=_reporter(started))
    try:
        _print_ending(ws, results, time.perf_counter() - started)
    finally:
        ws.close()
    skip_final_collection()


def run_demo(*, reporter: Reporter) -> tuple[Workspace, dict[str, StepResult]]:
    """Run the demo's pipeline on a fresh store (:func:`open_demo_workspace`); ``reporter``
    hears each step.

    Returns the open workspace (the caller closes it) and each step's result.
    """
    ws = open_demo_workspace()
    try:
        return ws, run_pipeline_file(ws, demo_pipeline_path(), reporter=reporter)
    except BaseException:
        ws.close()
        raise


def open_demo_workspace() -> Workspace:
    """The demo's workspace, acting as ``ml-engineer``, on a fresh store.

    The store is ``LMOPS_DATABASE_URL`` / ``LMOPS_ARTIFACT_URI`` where set (they must be
    empty: :class:`ConfigurationError` otherwise, raised before anything is written), else an
    embedded one under ``LMOPS_HOME/demo``, made anew. Local files (keys, reports, alerts)
    go under ``LMOPS_HOME/demo`` either way, made anew too.
    """
    # The demo's models are tiny: more torch/OpenMP threads buy nothing, and their spin-waiting
    # slows every step badly when other processes share the CPUs. Set it to override.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    settings = get_settings()
    home = settings.home / "demo"
    demo_settings = settings.model_copy(update={"home": home, "policies_dir": _policies_dir()})
    if not _embedded(demo_settings):
        refuse_unless_empty(demo_settings)
    if home.exists():
        shutil.rmtree(home)
    from lmops_core.workspace import Workspace

    ws = Workspace.open(demo_settings, actor="ml-engineer")
    for failure in ws.plugins.failures:
        err_console.print(f"[yellow]warning:[/] {failure}")
    return ws


def _embedded(settings: Settings) -> bool:
    return settings.database_url is None and settings.artifact_uri is None


def refuse_unless_empty(settings: Settings) -> None:
    """Raise :class:`ConfigurationError` if the configured metadata or artifact store holds
    anything: the demo's people, keys and approvals must not mix with a real store's.

    Only ``LMOPS_DATABASE_URL`` / ``LMOPS_ARTIFACT_URI`` are looked at (an unset one is the
    embedded store the demo makes anew). Reading creates nothing.
    """
    from lmops_core.audit.ledger import existing_log
    from lmops_core.plugins import load_plugins
    from lmops_core.registry.db import Database, describe_store, store_exists

    url = settings.database_url
    if url is not None and store_exists(url):
        db = Database(url)
        try:
            found = existing_log(db)
        finally:
            db.dispose()
        if found is not None:
            raise ConfigurationError(
                f"lmops demo needs an empty store, and the metadata store "
                f"{describe_store(url)} (LMOPS_DATABASE_URL) already holds an audit log "
                f"({found}): point it at a new database, or unset it for an embedded one",
                setting="LMOPS_DATABASE_URL",
            )
    uri = settings.artifact_uri
    if uri is None:
        return
    plugins = load_plugins(settings, registrations=False)
    backend = plugins.hook.lmops_artifact_backend(uri=uri, settings=settings)
    if backend is None:
        raise ConfigurationError(f"no installed plugin serves the artifact URI {uri!r}")
    first = next(iter(backend.iter_digests()), None)
    if first is not None:
        raise ConfigurationError(
            f"lmops demo needs an empty store, and the artifact store {uri} "
            f"(LMOPS_ARTIFACT_URI) already holds artifacts ({first}, ...): point it at an "
            "unused bucket prefix or folder, or unset it for an embedded one",
            setting="LMOPS_ARTIFACT_URI",
        )
