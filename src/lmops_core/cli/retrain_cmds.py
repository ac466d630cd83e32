"""``lmops retrain list|show|close|resume``: the retraining requests monitoring breaches open."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import typer

from lmops_core.cli.common import (
    JsonOpt,
    RichStageProgress,
    console,
    open_workspace,
    print_json,
    read_workspace,
    table,
)

if TYPE_CHECKING:
    from lmops_core.governance.retraining import TrainingRequestPublic
    from lmops_core.pipelines.retrain import RetrainingOutcome

retrain_app = typer.Typer(
    help="Retraining requests opened by monitoring breaches: list, show, close, resume. "
    "A policy rule with `on_breach: [{retrain: {pipeline: FILE}}]` makes `lmops monitor "
    "run/watch` run that pipeline; it ends in a promotion request for people, never a promotion.",
    no_args_is_help=True,
)

StatusFilter = Literal["open", "closed", "superseded", "all"]
StatusOpt = Annotated[StatusFilter, typer.Option(help="Only requests with this status, or 'all'.")]


def _latest(row: TrainingRequestPublic) -> str:
    attempt = row.latest_attempt
    if attempt is None:
        return "not run"
    if attempt.failure:
        return f"{attempt.state}: {attempt.failure}"
    if attempt.promotion_request:
        return f"{attempt.state}: {attempt.candidate} awaits request {attempt.promotion_request}"
    if attempt.waiting_for:
        return f"{attempt.state} for request {attempt.waiting_for}"
    return attempt.state


@retrain_app.command("list")
def retrain_list(
    status: StatusOpt = "open",
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    as_json: JsonOpt = False,
) -> None:
    """List retraining requests, newest first, with what their latest attempt did."""
    from lmops_core.governance.retraining import list_requests

    with read_workspace() as ws:
        rows = list_requests(ws, status=None if status == "all" else status, limit=limit)
    if as_json:
        print_json(rows)
        return
    table(
        "Retraining requests",
        ["id", "version", "status", "window", "pipeline", "latest attempt"],
        [
            [
                r.id,
                r.ref,
                r.status,
                (r.evidence or {}).get("window") or "",
                r.pipeline or "(none: the policy names no pipeline)",
                _latest(r),
            ]
            for r in rows
        ],
    )


@retrain_app.command("show")
def retrain_show(request_id: str, as_json: JsonOpt = False) -> None:
    """Show a request: the version, the breach evidence and window, the pipeline, every attempt.

    Printed as JSON (with or without --json): the detail has nested records."""
    from lmops_core.governance.retraining import request_detail

    del as_json  # always JSON, like `lmops requests show`
    with read_workspace() as ws:
        print_json(request_detail(ws, request_id))


@retrain_app.command("close")
def retrain_close(
    request_id: str,
    comment: Annotated[str, typer.Option(help="Why it is closed (recorded and audited).")],
    as_json: JsonOpt = False,
) -> None:
    """Close an open request (submitters, validators, risk officers, admins; a credential is
    needed). An attempt still running or waiting is abandoned. --json prints the request."""
    from lmops_core.governance.retraining import close_request, request_detail

    with open_workspace() as ws:
        close_request(ws, request_id, comment=comment)
        detail = request_detail(ws, request_id)
    if as_json:
        print_json(detail)
    else:
        console.print(f"closed retraining request {request_id} ({detail.ref})")


@retrain_app.command("resume")
def retrain_resume(as_json: JsonOpt = False) -> None:
    """Carry on every retraining waiting for a decision that people have now made (e.g. the
    fresh data's approval for training), and take over every retraining whose process
    crashed (its lease lapsed, or its pid on this host is gone). `lmops monitor watch`
    does this at every poll. --json prints what each attempt did."""
    from lmops_core.pipelines.retrain import resume_waiting

    with open_workspace() as ws:
        outcomes = resume_waiting(ws, progress=RichStageProgress)
    if as_json:
        print_json([vars(outcome) for outcome in outcomes])
        return
    for outcome in outcomes:
        print_outcome(outcome)
    if not outcomes:
        console.print("no retraining is ready to resume")


def print_outcome(outcome: RetrainingOutcome) -> None:
    """One line on what a retraining attempt did."""
    colour = {"succeeded": "green", "failed": "red"}.get(outcome.state, "yellow")
    console.print(
        f"retraining ({outcome.request_id}): [{colour}]{outcome.state}[/]: {outcome.message}",
        highlight=False,
    )
