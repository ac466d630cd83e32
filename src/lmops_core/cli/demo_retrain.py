"""``lmops demo --scenario retrain``: the retraining loop, offline, on a fresh store.

A tiny assistant reaches production (``data/demo/retrain/setup.yaml``), a drifted
window of traffic breaches the monitoring rule, and the policy's retraining pipeline
(``data/demo/retrain/policies/pipelines/retrain.yaml``) runs: the window is redacted,
waits for a data steward's approval, trains from the last approved version, is
evaluated against production, and ends in a promotion request pending for a
validator. Nothing is approved by the loop. The store lives under
``LMOPS_HOME/demo-retrain``.
"""

from __future__ import annotations

import os
import shutil
import time
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.panel import Panel

from lmops_core.cli.common import RichStageProgress, console
from lmops_core.cli.monitor_cmds import monitor_window
from lmops_core.cli.retrain_cmds import print_outcome
from lmops_core.settings import get_settings

if TYPE_CHECKING:
    from lmops_core.pipelines import Reporter, StepResult
    from lmops_core.workspace import Workspace


def scenario_folder() -> Path:
    """The shipped files of the retraining scenario (setup pipeline, policy, retrain pipeline)."""
    return Path(str(resources.files("lmops_core") / "data" / "demo" / "retrain"))


def retrain_pipeline_path() -> Path:
    """The retraining pipeline the scenario's policy names."""
    return scenario_folder() / "policies" / "pipelines" / "retrain.yaml"


def _announcer(started: float) -> Reporter:
    count = [0]

    def announce(event: str, label: str, result: StepResult | None) -> None:
        if event == "start":
            count[0] += 1
            heading(f"{count[0]}. {label}")
            return
        if result is not None and result.summary:
            console.print(result.summary, highlight=False, markup=False)
        console.print(f"[dim]({time.perf_counter() - started:.0f} s)[/]")

    return announce


def heading(text: str) -> None:
    """A step's heading: a rule on a terminal, a plain line in a pipe."""
    if console.is_terminal:
        console.rule(f"[bold cyan]{text}", align="left")
    else:
        console.print(f"--- {text}", highlight=False, markup=False)


def _fresh_store() -> Workspace:
    from lmops_core.workspace import Workspace

    settings = get_settings()
    home = settings.home / "demo-retrain"
    shutil.rmtree(home, ignore_errors=True)  # a fresh store each run, as `lmops demo` does
    policies = scenario_folder() / "policies"
    embedded = dict(home=home, database_url=None, artifact_uri=None, policies_dir=policies)
    return Workspace.open(settings.model_copy(update=embedded), actor="ml-engineer")


def retrain_scenario(*, write_pipeline: Path | None, verbose: bool) -> None:
    """``lmops demo --scenario retrain``: run it, or write its retraining pipeline out."""
    from lmops_core.cli.demo import quiet_libraries, skip_final_collection

    if write_pipeline is None:
        if not verbose:
            quiet_libraries()
        run_retrain_demo()
        skip_final_collection()
    else:
        shutil.copyfile(retrain_pipeline_path(), write_pipeline)
        console.print(f"wrote {write_pipeline}; a policy names it in on_breach: retrain: pipeline")


def run_retrain_demo() -> None:
    """Run the scenario and print an account of each step; exit 1 if the loop did not end
    in a pending promotion request."""
    from lmops_core.pipelines import PipelineRunner, load_pipeline
    from lmops_core.pipelines.retrain import resume_waiting, retrain_for

    # Tiny models: more torch threads buy nothing and spin on shared CPUs.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    started = time.perf_counter()
    announce = _announcer(started)
    ws = _fresh_store()
    try:
        setup = scenario_folder() / "setup.yaml"
        runner = PipelineRunner(
            ws,
            load_pipeline(setup),
            base_dir=setup.parent,
            reporter=announce,
            progress=RichStageProgress,
        )
        results = runner.run()
        engineer, steward = runner.people["ml-engineer"], runner.people["data-steward"]
        model = str(results["tuned"].outputs["merged"])
        heading(f"Monitor a drifted window of traffic on {model} (as `lmops monitor run` does)")
        window, outcome = monitor_window(
            engineer,
            model=model,
            reference=str(results["redacted"].outputs["dataset"]),
            log=scenario_folder().parent / "drift_window.jsonl",
            monitor="drift",
        )
        console.print(f"breach on {window}: {'; '.join(outcome.reasons)}", highlight=False)
        console.print(f"actions taken by the policy: {', '.join(outcome.actions)}")
        heading("The policy's retraining pipeline runs")
        first = retrain_for(engineer, outcome, reporter=announce, progress=RichStageProgress)
        if first is None or first.attempt is None or first.attempt.waiting_for is None:
            raise typer.Exit(1)
        print_outcome(first)
        awaited = first.attempt.waiting_for
        heading("The data steward reviews the redacted window and approves it for training")
        steward.governance.decide(
            awaited,
            approve=True,
            role="data_steward",
            comment="The redacted window holds no personal data; fit to train on.",
        )
        heading("The retraining carries on (as `lmops retrain resume` or the watcher does)")
        done = resume_waiting(engineer, reporter=announce, progress=RichStageProgress)
        for outcome_of in done:
            print_outcome(outcome_of)
        if [o.state for o in done] != ["succeeded"]:
            raise typer.Exit(1)
        _ending(ws, done[0].request_id, time.perf_counter() - started)
    finally:
        ws.close()


def _ending(ws: Workspace, request_id: str, elapsed: float) -> None:
    from lmops_core.governance.retraining import request_detail
    from lmops_core.reports import render_report

    detail = request_detail(ws, request_id)
    attempt = detail.attempts[-1]
    candidate = attempt.candidate or ""
    promotion = ws.governance.get_request(attempt.promotion_request or "")
    reports = ws.settings.home / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    report = reports / "retrained-validation-report.md"
    report.write_text(render_report(ws, candidate, to="production").markdown, encoding="utf-8")
    lines = [
        f"store: {ws.settings.home}",
        f"retraining request: {detail.id} on {detail.ref} (`lmops retrain show {detail.id}`)",
        f"retrained model: {candidate} ({ws.get(candidate).tags.get('retrained', '')}); "
        f"stage: {ws.get(candidate).stage or 'none'}",
        f"promotion request {promotion.id}: {promotion.status}, for a validator to decide:",
        f"  lmops requests approve {promotion.id} --role validator --comment ...",
        f"validation report: {report}",
        f"finished in {elapsed:.0f} s; explore with LMOPS_HOME={ws.settings.home} "
        "lmops retrain list / requests list / lineage",
    ]
    console.print(
        Panel("\n".join(lines), title="the retraining loop", expand=False), highlight=False
    )
