"""A pipeline run that stopped at ``await_approval``: kept, so that it can be resumed.

When an ``await_approval`` step finds its request pending, the run stops (people
decide, not the pipeline). :func:`keep_stopped` writes what the finished steps
produced to ``LMOPS_HOME/pipeline-runs/``, keyed by the pipeline file's path, with the
file's digest; :func:`resume_results` reads it back for ``lmops run FILE --resume``,
which runs only the steps not yet finished. A pipeline whose ``people`` step set up
users with tokens cannot be resumed: those tokens lived only in the stopped process.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from lmops_core.errors import ConflictError, NotFoundError, ValidationError
from lmops_core.pipelines.result import StepResult
from lmops_core.pipelines.schema import Pipeline


@dataclass(frozen=True)
class StoppedRun:
    """Where a stopped run waits: the step, the request, and whether it can be resumed."""

    step: str
    waiting_for: str
    #: Why ``--resume`` cannot carry it on (None when it can).
    not_resumable: str | None


def _state_file(home: Path, pipeline_file: Path) -> Path:
    key = hashlib.sha256(str(pipeline_file.resolve()).encode()).hexdigest()[:24]
    return home / "pipeline-runs" / f"{key}.json"


def _digest(pipeline_file: Path) -> str:
    return hashlib.sha256(pipeline_file.read_bytes()).hexdigest()


def _people_step(pipeline: Pipeline) -> str | None:
    return next((s.id for s in pipeline.steps if s.action()[0] == "people"), None)


def keep_stopped(
    home: Path,
    pipeline_file: Path,
    pipeline: Pipeline,
    results: dict[str, StepResult],
    waiting_for: str,
) -> StoppedRun:
    """Record a run that stopped waiting for ``waiting_for``; what ``--resume`` needs."""
    step = next(s.id for s in pipeline.steps if s.id not in results)
    people = _people_step(pipeline)
    if people is not None:
        reason = (
            f"its step {people!r} set up people whose tokens lived only in the stopped run; "
            "after the decision, run the remaining steps in a pipeline of their own"
        )
        return StoppedRun(step, waiting_for, reason)
    path = _state_file(home, pipeline_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "pipeline": str(pipeline_file.resolve()),
        "digest": _digest(pipeline_file),
        "step": step,
        "waiting_for": waiting_for,
        "results": {k: {"value": r.value, "outputs": r.outputs} for k, r in results.items()},
    }
    path.write_text(json.dumps(state, default=str), encoding="utf-8")
    return StoppedRun(step, waiting_for, None)


def resume_results(home: Path, pipeline_file: Path) -> dict[str, StepResult]:
    """The finished steps of the stopped run of ``pipeline_file``, to hand to the runner.

    Refused when no run of that file is stopped, or when the file changed since."""
    path = _state_file(home, pipeline_file)
    if not path.is_file():
        raise NotFoundError(f"{pipeline_file}: no stopped run of this pipeline to resume")
    state = json.loads(path.read_text(encoding="utf-8"))
    if state.get("digest") != _digest(pipeline_file):
        raise ConflictError(
            f"{pipeline_file}: the file changed since its run stopped at step "
            f"{state.get('step')!r}; run it again without --resume"
        )
    results = state.get("results")
    if not isinstance(results, dict):
        raise ValidationError(f"{path}: results: not a mapping of step results", file=str(path))
    return {
        step: StepResult(value=kept.get("value"), outputs=kept.get("outputs", {}))
        for step, kept in results.items()
    }


def forget_stopped(home: Path, pipeline_file: Path) -> None:
    """The run finished: nothing is left to resume."""
    _state_file(home, pipeline_file).unlink(missing_ok=True)


__all__ = ["StoppedRun", "forget_stopped", "keep_stopped", "resume_results"]
