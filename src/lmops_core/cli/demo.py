"""``lmops run PIPELINE`` and ``lmops demo``: a governed lifecycle, step by step, with an account.

The demo is the pipeline shipped in ``lmops_core/data/demo/pipeline.yaml``, run
on a fresh embedded store (SQLite and a local artifact folder) under
``LMOPS_HOME/demo``; every stage runs through its real plugin.
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
from lmops_core.settings import get_settings

if TYPE_CHECKING:
    from lmops_core.pipelines import Reporter, StepResult
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
    from lmops_core.pipelines import PipelineRunner, load_pipeline

    pipeline = load_pipeline(path)
    runner = PipelineRunner(
        ws,
        pipeline,
        base_dir=path.resolve().parent,
        reporter=reporter or _reporter(time.perf_counter()),
        progress=RichStageProgress,
    )
    return runner.run()


VerboseOpt = Annotated[bool, typer.Option("--verbose", help="Keep the ML libraries' output.")]


@app.command("run")
def run(
    pipeline: Annotated[
        Path, typer.Argument(help="Pipeline YAML file.", exists=True, dir_okay=False)
    ],
    verbose: VerboseOpt = False,
) -> None:
    """Run a pipeline file (steps: grant, register, run stages, promote, approve, bundle...)."""
    if not verbose:
        quiet_libraries()
    with open_workspace() as ws:
        run_pipeline_file(ws, pipeline)
    console.print("[green]pipeline finished[/]")
    skip_final_collection()


def _print_ending(ws: Workspace, results: dict[str, StepResult], elapsed: float) -> None:
    tuned = results["tuned"].outputs.get("merged", "")
    lines = [
        f"store (SQLite + local artifacts): {ws.settings.home}",
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
    lines.append(
        f"finished in {elapsed:.0f} s; explore with LMOPS_HOME={ws.settings.home} "
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
    """Run the whole governed lifecycle offline on a fresh store under LMOPS_HOME/demo."""
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
    """Run the demo's pipeline on a fresh store under ``LMOPS_HOME/demo``; ``reporter`` hears each step.

    Returns the open workspace (the caller closes it) and each step's result.
    """
    # The demo's models are tiny: more torch/OpenMP threads buy nothing, and their spin-waiting
    # slows every step badly when other processes share the CPUs. Set it to override.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    settings = get_settings()
    home = settings.home / "demo"
    if home.exists():
        shutil.rmtree(home)
    demo_settings = settings.model_copy(
        update={
            "home": home,
            "database_url": None,
            "artifact_uri": None,
            "policies_dir": _policies_dir(),
        }
    )
    from lmops_core.workspace import Workspace

    ws = Workspace.open(demo_settings, actor="ml-engineer")
    for failure in ws.plugins.failures:
        err_console.print(f"[yellow]warning:[/] {failure}")
    try:
        return ws, run_pipeline_file(ws, demo_pipeline_path(), reporter=reporter)
    except BaseException:
        ws.close()
        raise
