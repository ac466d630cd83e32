"""The retraining loop: a breach's retraining request runs the policy's pipeline.

``lmops monitor watch`` calls :func:`retrain_for` after a breach whose rule says
``on_breach: [{retrain: {pipeline: retrain.yaml}}]``. The pipeline is an ordinary
pipeline file run by :class:`~lmops_core.pipelines.PipelineRunner`, with one step's
worth of values handed in as ``${retrain.X}``:

* ``window``: the window of traffic the breach was found on (a dataset version);
* ``monitored``: the version that breached; ``production``: the version in
  production now (the monitored one, if the breach took it out);
* ``base``: the newest version of the model that people approved for production;
* ``model``: the model's name; ``request``: the retraining request's id.

What a retraining pipeline may do is narrower than a pipeline run by a person: it
may not set up people, grant roles or approve anything, and each ``promote`` must
``expect: pending``, so the loop ends in a request for people, never a promotion.
An ``await_approval`` step (the fresh data's approval for training) stops the run
while the request is pending; the attempt then ``waits`` and :func:`resume_waiting`
carries on after the decision. Every step is audited and kept on the attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmops_core.errors import ValidationError
from lmops_core.governance import retraining
from lmops_core.governance.models import RetrainingAttempt
from lmops_core.governance.monitoring import POLICY_ACTOR
from lmops_core.governance.retraining import RetrainingAttemptPublic
from lmops_core.governance.retraining_lease import Heartbeat, stale_attempts, take_over
from lmops_core.pipelines.result import Reporter, StepResult
from lmops_core.pipelines.runner import PipelineRunner
from lmops_core.pipelines.schema import Pipeline, load_pipeline
from lmops_core.redaction import redact_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from lmops_core.contracts import ProgressReporter
    from lmops_core.governance.monitoring import MonitoringOutcome
    from lmops_core.policy.evaluate import RetrainPlan
    from lmops_core.workspace import Workspace

#: The id under which the loop's values are handed in (``${retrain.window}``...).
RETRAIN_STEP = "retrain"
#: Actions a retraining pipeline may not take: it never decides for people.
REFUSED_ACTIONS = ("people", "grant", "approve")


@dataclass
class RetrainingOutcome:
    """What one retraining attempt did: refused, waiting, succeeded or failed."""

    request_id: str
    #: ``refused`` (by a guard rail: no attempt), ``waiting``, ``succeeded`` or ``failed``.
    state: str
    #: One line for people: the refusal, the failure, or what was made.
    message: str
    #: The attempt as recorded (none when refused): what it waits for, made or failed on.
    attempt: RetrainingAttemptPublic | None = None


def load_retrain_pipeline(path: Path) -> Pipeline:
    """Load a retraining pipeline; refuse steps that would decide for people."""
    pipeline = load_pipeline(path)
    for i, step in enumerate(pipeline.steps):
        kind, spec = step.action()
        where = f"steps.{i}.{kind}"
        if step.id == RETRAIN_STEP:
            raise ValidationError(
                f"{path}: steps.{i}.id: {RETRAIN_STEP!r} is the loop's own inputs; rename the step",
                file=str(path),
                field=f"steps.{i}.id",
            )
        if kind in REFUSED_ACTIONS:
            raise ValidationError(
                f"{path}: {where}: a retraining pipeline may not {kind.replace('_', ' ')} "
                "(people decide, outside the loop)",
                file=str(path),
                field=where,
            )
        if kind == "promote" and spec.expect != "pending":
            raise ValidationError(
                f"{path}: {where}.expect: a retraining pipeline's promotion must expect "
                "'pending' (the loop opens requests; people approve them)",
                file=str(path),
                field=f"{where}.expect",
            )
    return pipeline


def retrain_for(
    ws: Workspace,
    outcome: MonitoringOutcome,
    *,
    reporter: Reporter | None = None,
    progress: Callable[[], ProgressReporter] | None = None,
) -> RetrainingOutcome | None:
    """Run the policy's retraining pipeline for a breach, if its rule names one."""
    plan = outcome.evaluation.retrain
    if outcome.training_request_id is None or plan is None:
        return None
    return run_retraining(
        ws, outcome.training_request_id, plan=plan, reporter=reporter, progress=progress
    )


def run_retraining(
    ws: Workspace,
    request_id: str,
    *,
    plan: RetrainPlan,
    reporter: Reporter | None = None,
    progress: Callable[[], ProgressReporter] | None = None,
) -> RetrainingOutcome:
    """Start an attempt for ``request_id`` (if the guard rails allow) and run it.

    An attempt of the same model left running by a crashed process is taken over and
    carried on instead (it holds the model's place in flight)."""
    model = retraining.model_of(retraining.request_detail(ws, request_id).ref)
    for crashed in _taken_over(ws, model):
        return _drive(ws, crashed, reporter, progress)
    started = retraining.start_attempt(ws.as_actor(POLICY_ACTOR), request_id, plan=plan)
    if isinstance(started, retraining.StartRefused):
        return RetrainingOutcome(request_id, "refused", started.reason)
    return _drive(ws, started, reporter, progress)


def resume_waiting(
    ws: Workspace,
    *,
    reporter: Reporter | None = None,
    progress: Callable[[], ProgressReporter] | None = None,
) -> list[RetrainingOutcome]:
    """Carry on every waiting attempt whose awaited request people have decided, and take
    over every attempt whose process crashed (its lease lapsed or its pid is gone)."""
    outcomes = [_drive(ws, crashed, reporter, progress) for crashed in _taken_over(ws, None)]
    for attempt in retraining.waiting_attempts(ws):
        waiting_for = attempt.waiting_for
        if waiting_for and ws.governance.get_request(waiting_for).status == "pending":
            continue
        resumed = retraining.resume_attempt(ws.as_actor(POLICY_ACTOR), attempt.id)
        outcomes.append(_drive(ws, resumed, reporter, progress))
    return outcomes


def _taken_over(ws: Workspace, model: str | None) -> list[RetrainingAttempt]:
    """The crashed attempts (of ``model``, or all) this process claimed, oldest first."""
    policy_ws = ws.as_actor(POLICY_ACTOR)
    claimed = (take_over(policy_ws, stale) for stale in stale_attempts(ws, model=model))
    return [attempt for attempt in claimed if attempt is not None]


def _drive(
    ws: Workspace,
    attempt: RetrainingAttempt,
    reporter: Reporter | None,
    progress: Callable[[], ProgressReporter] | None,
) -> RetrainingOutcome:
    policy_ws = ws.as_actor(POLICY_ACTOR)

    def report(event: str, label: str, result: StepResult | None) -> None:
        if event == "done" and result is not None and result.waiting_for is None:
            kept = {"value": result.value, "outputs": result.outputs}
            retraining.record_step(policy_ws, attempt.id, label, kept)
        if reporter is not None:
            reporter(event, label, result)

    try:
        path = Path(attempt.pipeline)
        pipeline = load_retrain_pipeline(path)
        given = {RETRAIN_STEP: _loop_values(ws, attempt.request_id)}
        for step, kept in attempt.results.items():
            given[step] = StepResult(value=kept.get("value"), outputs=kept.get("outputs", {}))
        runner = PipelineRunner(
            ws, pipeline, base_dir=path.parent, reporter=report, progress=progress, given=given
        )
        # Steps without `as` act as whoever runs the loop, with their own credential.
        runner.people[pipeline.actor] = ws
        with Heartbeat(policy_ws, attempt):
            runner.run()
        if runner.waiting_for is not None:
            retraining.wait_attempt(policy_ws, attempt.id, request_id=runner.waiting_for)
            waiting = f"waiting for people to decide request {runner.waiting_for}"
            return _outcome(ws, attempt, "waiting", waiting)
        candidate, promotion = _promotion_of(ws, pipeline, runner.results)
        production = runner.results[RETRAIN_STEP].outputs["production"]
        sentence = retraining.record_retrained(
            policy_ws,
            attempt.id,
            candidate=candidate,
            comparison=_compare(ws, candidate, production),
        )
    except Exception as exc:  # any failure is recorded on the attempt; the request stays open
        failure = redact_text(f"{type(exc).__name__}: {exc}")
        retraining.fail_attempt(policy_ws, attempt.id, failure=failure)
        return _outcome(ws, attempt, "failed", failure)
    retraining.succeed_attempt(policy_ws, attempt.id, candidate=candidate, request_id=promotion)
    made = f"{candidate} {sentence}; promotion request {promotion} is pending for people"
    return _outcome(ws, attempt, "succeeded", made)


def _outcome(
    ws: Workspace, attempt: RetrainingAttempt, state: str, message: str
) -> RetrainingOutcome:
    recorded = retraining.attempt_detail(ws, attempt.id)
    return RetrainingOutcome(attempt.request_id, state, message, recorded)


def _loop_values(ws: Workspace, request_id: str) -> StepResult:
    request = retraining.request_detail(ws, request_id)
    monitored = request.ref
    versions = ws.list_versions("model", retraining.model_of(monitored))
    production = next((v.ref for v in versions if v.stage == "production"), monitored)
    approved = [
        v.ref
        for v in versions
        if any(e.metrics.get("stage") == "production" for e in ws.evidence(v.ref, kind="promotion"))
    ]
    window = (request.evidence or {}).get("window")
    if not window:
        raise ValidationError(f"retraining request {request_id} names no window of data")
    values = {
        "model": retraining.model_of(monitored),
        "window": window,
        "monitored": monitored,
        "production": production,
        "base": approved[-1] if approved else monitored,
        "request": request_id,
    }
    return StepResult(value=request_id, outputs=values)


def _promotion_of(
    ws: Workspace, pipeline: Pipeline, results: dict[str, StepResult]
) -> tuple[str, str]:
    """The model the pipeline asked to promote, and that pending request (the last one)."""
    found: tuple[str, str] | None = None
    for step in pipeline.steps:
        kind, _ = step.action()
        if kind != "promote" or step.id not in results:
            continue
        req = ws.governance.get_request(str(results[step.id].value))
        if req.asset_type == "model" and req.status == "pending":
            found = (req.ref, req.id)
    if found is None:
        raise ValidationError(
            f"retraining pipeline {pipeline.name!r} opened no pending promotion request for a "
            "model: it must end with one, for people to decide"
        )
    return found


def _compare(ws: Workspace, candidate: str, production: str) -> dict[str, Any]:
    """The candidate's and production's newest evaluation accuracy, where recorded."""
    out: dict[str, Any] = {}
    for name, ref in (("acc", candidate), ("production_acc", production)):
        evals = ws.evidence(ref, kind="eval")
        if evals and isinstance(evals[-1].metrics.get("acc"), int | float):
            out[name] = float(evals[-1].metrics["acc"])
    return out
