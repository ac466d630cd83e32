"""``lmops monitor run|watch``: compare live traffic with a reference and act on breaches."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lmops_core.cli.common import JsonOpt, RichStageProgress, console, open_workspace, print_json
from lmops_core.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from lmops_core.governance.monitoring import MonitoringOutcome
    from lmops_core.workspace import Workspace

monitor_app = typer.Typer(
    help="Run drift monitors on inference logs; breaches act by policy.", no_args_is_help=True
)


def monitor_window(
    ws: Workspace,
    *,
    model: str,
    reference: str,
    log: Path,
    monitor: str,
    params: dict[str, object] | None = None,
) -> tuple[str, MonitoringOutcome]:
    """Register a log window as a dataset, run the monitor on it, then check the policy."""
    name = model.split(":", 1)[-1].split("@", 1)[0] + "-inference-log"
    window = ws.register_dataset(
        name, log, shape="instruction", drop_invalid=True, meta={"window_of": model}
    )
    ws.run_stage(
        "monitoring",
        monitor,
        params=params or {},
        inputs={"reference": reference, "current": window.ref, "model": model},
        progress=RichStageProgress(),
    )
    from lmops_core.governance.monitoring import check_monitoring

    return window.ref, check_monitoring(ws, model, window=window.ref)


def act_on_breach(
    ws: Workspace, result: MonitoringOutcome, *, show: bool = True
) -> dict[str, object] | None:
    """Run the retraining pipeline the breached rule names, if any; what it did."""
    if not result.breached:
        return None
    from lmops_core.cli.retrain_cmds import print_outcome
    from lmops_core.pipelines.retrain import retrain_for

    outcome = retrain_for(ws, result, progress=RichStageProgress)
    if outcome is None:
        return None
    if show:
        print_outcome(outcome)
    attempt = outcome.attempt.id if outcome.attempt else None
    return {"state": outcome.state, "message": outcome.message, "attempt": attempt}


def _report(
    window: str,
    result: MonitoringOutcome,
    as_json: bool = False,
    retraining: dict[str, object] | None = None,
) -> None:
    if as_json:
        print_json(
            {
                "ref": result.ref,
                "stage": result.stage,
                "window": window,
                "breached": result.breached,
                "reasons": list(result.reasons),
                "actions": list(result.actions),
                "training_request": result.training_request_id,
                "retraining": retraining,
            }
        )
        return
    if result.breached:
        console.print(f"[red]breach[/] on {result.ref} ({window}): " + "; ".join(result.reasons))
        console.print(f"actions taken: {', '.join(result.actions) or 'none'}")
    else:
        console.print(f"[green]ok[/]: {result.ref} ({window}) meets its monitoring rules")


@monitor_app.command("run")
def monitor_run(
    model: Annotated[str, typer.Option(help="The deployed version, e.g. model:assistant@3.")],
    reference: Annotated[str, typer.Option(help="Reference dataset version.")],
    log: Annotated[
        Path, typer.Option(help="Inference log window (JSONL).", exists=True, dir_okay=False)
    ],
    monitor: Annotated[str, typer.Option(help="Monitoring operation.")] = "drift",
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="KEY=JSON")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run one monitoring check now; exit 8 on a breach.

    On a breach whose rule names a retraining pipeline, that pipeline runs (see
    `lmops retrain`); it ends in a promotion request for people, never a promotion."""
    params = {k: json.loads(v) for k, _, v in (p.partition("=") for p in param or [])}
    with open_workspace() as ws:
        window, result = monitor_window(
            ws, model=model, reference=reference, log=log, monitor=monitor, params=params
        )
        if as_json:
            _report(window, result, as_json, act_on_breach(ws, result, show=False))
        else:
            _report(window, result)
            act_on_breach(ws, result)
    if result.breached:
        raise typer.Exit(ExitCode.MONITOR_BREACH)


@monitor_app.command("watch")
def monitor_watch(
    model: Annotated[str, typer.Option(help="The deployed version.")],
    reference: Annotated[str, typer.Option(help="Reference dataset version.")],
    log: Annotated[Path, typer.Option(help="The growing inference log (JSONL).")],
    window: Annotated[int, typer.Option(help="Records per monitoring window.")] = 1000,
    interval: Annotated[float, typer.Option(help="Seconds between polls.")] = 60.0,
    monitor: str = "drift",
    max_windows: Annotated[int | None, typer.Option(help="Stop after this many windows.")] = None,
    max_polls: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many polls of the log.")
    ] = None,
) -> None:
    """Poll a growing log; check every full window of new records; stop on a breach (exit 8).

    On a breach whose rule names a retraining pipeline, that pipeline runs before the
    watch stops; at every poll, retrainings waiting for a decision people have since made
    carry on (`lmops retrain resume` does the same once). It stops with exit 0 after
    --max-windows windows or --max-polls polls, whichever comes first."""
    from lmops_core.cli.retrain_cmds import print_outcome
    from lmops_core.pipelines.retrain import resume_waiting

    offset = 0
    done = polls = 0
    pending: list[str] = []
    with open_workspace() as ws:
        while (max_windows is None or done < max_windows) and (
            max_polls is None or polls < max_polls
        ):
            polls += 1
            for resumed in resume_waiting(ws, progress=RichStageProgress):
                print_outcome(resumed)
            if log.exists():
                with open(log, encoding="utf-8") as fh:
                    fh.seek(offset)
                    chunk = fh.read()
                    offset = fh.tell()
                pending.extend(line for line in chunk.splitlines() if line.strip())
            while len(pending) >= window and (max_windows is None or done < max_windows):
                part, pending = pending[:window], pending[window:]
                path = ws.settings.home / "tmp" / f"window-{int(time.time() * 1000)}.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("\n".join(part) + "\n", encoding="utf-8")
                try:
                    ref, result = monitor_window(
                        ws, model=model, reference=reference, log=path, monitor=monitor
                    )
                finally:
                    path.unlink(missing_ok=True)
                done += 1
                _report(ref, result)
                act_on_breach(ws, result)
                if result.breached:
                    raise typer.Exit(ExitCode.MONITOR_BREACH)
            if (max_windows is not None and done >= max_windows) or polls == max_polls:
                break
            time.sleep(interval)
