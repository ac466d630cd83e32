"""The checks a guard configuration makes, outside a running service too.

:func:`build_checks` turns a :class:`~lmops_serve.guard_config.GuardSpec` into the PII
guard and the request classifier the service runs (``open_service`` builds its own
with it). :class:`GuardChecks` answers one request behind them the way the service
does: the PII guard on the prompt, the refusal check on the request, the model, the
PII guard on the reply. Registered as the ``GuardConfig`` kind of guard configuration
(``register_guard_configs``), it is what the core validates guard versions with and
what an evaluation runs probes through (``context.guard_pipeline(role)``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmops_core.runtimes import GuardConfigType, GuardedAnswer, GuardIdentity, GuardSource
from lmops_serve.guard_config import GuardSpec, load_guard_spec, parse_guard_spec
from lmops_serve.pii import PiiBlockedError, ServiceGuard
from lmops_serve.request_filter import REFUSAL_MESSAGE, RequestClassifier


def build_checks(
    spec: GuardSpec, guards: GuardSource | None
) -> tuple[ServiceGuard, RequestClassifier]:
    """The PII guard (found in ``guards``) and the request classifier ``spec`` configures."""
    guard = ServiceGuard(
        spec.pii.mode, spec.pii.options, guards=guards, segment_chars=spec.output.segment_chars
    )
    return guard, RequestClassifier(spec.refusals.categories)


@dataclass
class GuardChecks:
    """One guard configuration's checks, answering requests like the service does."""

    spec: GuardSpec
    guard: ServiceGuard
    classifier: RequestClassifier

    @classmethod
    def of(cls, spec: GuardSpec, guards: GuardSource | None) -> GuardChecks:
        """The checks of ``spec``, with the PII guard found in ``guards``."""
        return cls(spec, *build_checks(spec, guards))

    def answer(self, prompt: str, generate: Callable[[str], str]) -> GuardedAnswer:
        """``prompt`` answered behind the guard; ``guard_ms`` excludes ``generate``'s time."""
        started = time.perf_counter()
        model_s = 0.0

        def spent() -> float:
            return (time.perf_counter() - started - model_s) * 1000

        try:
            text = self.guard.check(prompt, where="prompt").text
            categories = self.classifier.classify(prompt)
            if categories:
                return GuardedAnswer(
                    REFUSAL_MESSAGE, refused=True, category=categories[0], guard_ms=spent()
                )
            called = time.perf_counter()
            raw = generate(text)
            model_s = time.perf_counter() - called
            return GuardedAnswer(self.guard.check(raw, where="response").text, guard_ms=spent())
        except PiiBlockedError as exc:
            return GuardedAnswer(exc.message, blocked=True, guard_ms=spent())


def _identity(document: Any, source: str) -> GuardIdentity:
    spec = parse_guard_spec(document, source=source)
    return GuardIdentity(kind=spec.kind, name=spec.name, digest=spec.digest)


def _pipeline(path: Path, guards: GuardSource) -> GuardChecks:
    return GuardChecks.of(load_guard_spec(path), guards)


GUARD_CONFIG_TYPE = GuardConfigType(
    kind="GuardConfig",
    check=_identity,
    pipeline=_pipeline,
    description="lmops-serve's guard configuration: PII guard, refusal categories, output checks",
)
"""The ``GuardConfig`` kind of guard configuration document (:mod:`lmops_serve.guard_config`)."""
