"""The ``GuardConfig`` kind of guard configuration, as the core registers it.

Registered through ``register_guard_configs``, it is what the core validates guard
versions with (their identity: kind, name, digest) and what an evaluation runs probes
through (``context.guard_pipeline(role)``): the service's own
:class:`~lmops_serve.guard_pipeline.GuardPipeline`, so probes meet the checks the
service makes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmops_core.runtimes import GuardConfigType, GuardIdentity, GuardSource
from lmops_serve.guard_config import load_guard_spec, parse_guard_spec
from lmops_serve.guard_pipeline import GuardPipeline


def _identity(document: Any, source: str) -> GuardIdentity:
    spec = parse_guard_spec(document, source=source)
    return GuardIdentity(kind=spec.kind, name=spec.name, digest=spec.digest)


def _pipeline(path: Path, guards: GuardSource) -> GuardPipeline:
    return GuardPipeline.build(load_guard_spec(path), guards=guards)


GUARD_CONFIG_TYPE = GuardConfigType(
    kind="GuardConfig",
    check=_identity,
    pipeline=_pipeline,
    description=(
        "lmops-serve's guard configuration: PII guard, refusal categories, injection "
        "detectors, output checks"
    ),
)
"""The ``GuardConfig`` kind of guard configuration document (:mod:`lmops_serve.guard_config`)."""
