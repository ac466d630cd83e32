"""Running a pipeline: steps in order, each as its actor, ``${step}`` values substituted.

Every action goes through the SDK (:mod:`lmops_core.pipelines.actions`), so a
pipeline can do nothing a person could not do with the CLI.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lmops_core.contracts import ProgressReporter
from lmops_core.errors import LmopsError, StageError, ValidationError
from lmops_core.pipelines.actions import ACTIONS
from lmops_core.pipelines.result import Reporter, StepResult
from lmops_core.pipelines.schema import Pipeline
from lmops_core.redaction import redact_text
from lmops_core.safepaths import join_inside
from lmops_core.workspace import Workspace

_REF = re.compile(r"\$\{([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?\}")
_PACKAGE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class PipelineRunner:
    """Runs a pipeline's steps against one workspace, as the steps' actors."""

    def __init__(
        self,
        ws: Workspace,
        pipeline: Pipeline,
        *,
        base_dir: Path,
        reporter: Reporter | None = None,
        progress: Callable[[], ProgressReporter] | None = None,
        given: Mapping[str, StepResult] | None = None,
    ) -> None:
        self.ws = ws
        self.pipeline = pipeline
        self.base_dir = base_dir
        #: Results known before the run: values the caller hands in (``${retrain.window}``)
        #: and steps finished by an earlier run of the same pipeline, which are not run again.
        self.results: dict[str, StepResult] = dict(given or {})
        #: The approval request an ``await_approval`` step stopped the run for, if any.
        self.waiting_for: str | None = None
        self.produced: set[str] = {p for r in self.results.values() for p in _absolute_paths(r)}
        """Absolute paths earlier steps wrote (bundles, logs): later steps may name them."""
        self.report = reporter or (lambda *_: None)
        self.progress = progress
        #: Workspaces acting with the credential of each person a ``people`` step set up.
        self.people: dict[str, Workspace] = {}

    def acting_as(self, actor: str) -> Workspace:
        """The workspace acting as ``actor``: with their credential when the pipeline holds one."""
        if actor in self.people:
            return self.people[actor]
        return self.ws.as_actor(actor)

    # -- values ---------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """Substitute ``${step}`` and ``${step.output}`` in strings, recursively."""
        if isinstance(value, str):
            whole = _REF.fullmatch(value)
            if whole:
                return self._lookup(whole.group(1), whole.group(2))
            return _REF.sub(lambda m: str(self._lookup(m.group(1), m.group(2))), value)
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

    def _lookup(self, step: str, output: str | None) -> Any:
        if step not in self.results:
            raise ValidationError(f"${{{step}}} refers to a step that has not run")
        result = self.results[step]
        if output is None:
            return result.value
        if output not in result.outputs:
            raise ValidationError(
                f"step {step!r} has no output {output!r} (has: "
                f"{', '.join(result.outputs) or 'none'})"
            )
        return result.outputs[output]

    def path(self, value: str) -> Path:
        """A path inside the pipeline file's folder, or ``package:NAME/rel/path`` inside a package.

        Checked like every other name that becomes a path: absolute paths, ``..``,
        URLs and symlinks leading out are refused, so a pipeline reads and writes
        only under its own folder (or reads a package's shipped files).
        """
        if value.startswith("package:"):
            package, _, rel = value[len("package:") :].partition("/")
            if not _PACKAGE.fullmatch(package):
                raise ValidationError(f"{value}: {package!r} is not a package name", field="path")
            spec = importlib.util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                raise ValidationError(f"{value}: package {package!r} is not installed")
            root = Path(next(iter(spec.submodule_search_locations)))
            return join_inside(root, rel, what=f"pipeline path {value!r}")
        if value in self.produced:
            return Path(value)
        return join_inside(self.base_dir, value, what="pipeline path")

    # -- running -----------------------------------------------------------------

    def run(self) -> dict[str, StepResult]:
        """Run the steps not yet in :attr:`results`, in order, until the end or a wait."""
        for step in self.pipeline.steps:
            if step.id in self.results:
                continue
            kind, spec = step.action()
            actor = step.as_ or self.pipeline.actor
            self.report("start", step.title or f"{step.id}: {kind}", None)
            try:
                result = ACTIONS[kind](
                    self,
                    self.acting_as(actor),
                    self.resolve(spec.model_dump() if isinstance(spec, BaseModel) else spec),
                )
            except LmopsError as exc:
                raise StageError(
                    f"pipeline {self.pipeline.name!r}, step {step.id!r} ({kind}) "
                    f"failed: {redact_text(str(exc))}",
                    step=step.id,
                ) from exc
            result.summary = redact_text(result.summary)
            if result.waiting_for is not None:
                # A person must decide first; the run stops here and may be resumed.
                self.waiting_for = result.waiting_for
                self.report("done", step.id, result)
                break
            self.results[step.id] = result
            self.produced.update(_absolute_paths(result))
            self.report("done", step.id, result)
        return self.results


def _absolute_paths(result: StepResult) -> list[str]:
    """The absolute paths among a step's value and outputs (files it wrote)."""
    values = (result.value, *result.outputs.values())
    return [v for v in values if isinstance(v, str) and Path(v).is_absolute()]
