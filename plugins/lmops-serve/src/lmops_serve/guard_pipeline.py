"""A guard configuration put to work: what happens to a request before the model, and to
its reply after.

The service (:mod:`lmops_serve.service`) and the guard probes
(:mod:`lmops_serve.guard_probes`) both send text through this one path, so what
the probes measure is what the service does.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from lmops_core.runtimes import GuardedAnswer, GuardSource
from lmops_serve.guard_config import GuardSpec
from lmops_serve.injection import (
    INJECTION_CATEGORY,
    NOTHING_FOUND,
    InjectionDetector,
    InjectionVerdict,
)
from lmops_serve.pii import Checked, PiiBlockedError, ServiceGuard
from lmops_serve.request_filter import REFUSAL_MESSAGE, RequestClassifier


@dataclass(frozen=True)
class Screened:
    """What the guard decided about a request.

    ``prompt`` is the text the model may see (redacted in ``redact`` mode);
    ``refused_category`` is ``""`` when the request goes on to the model, else a
    category of :mod:`lmops_serve.request_filter` or ``"prompt_injection"``.
    """

    prompt: str
    pii_in: Checked | None = None
    refused_category: str = ""
    injection: InjectionVerdict = NOTHING_FOUND


@dataclass(eq=False)  # one per service, compared by identity
class GuardPipeline:
    """The PII guard, the refusal categories and the injection detectors of one spec."""

    spec: GuardSpec
    pii: ServiceGuard
    classifier: RequestClassifier
    injection: InjectionDetector

    @classmethod
    def build(cls, spec: GuardSpec, *, guards: GuardSource | None = None) -> GuardPipeline:
        """The pipeline ``spec`` describes; the ``pii`` guard is found in ``guards``
        (the plugins installed here when ``None``)."""
        return cls(
            spec=spec,
            pii=ServiceGuard(
                spec.pii.mode,
                spec.pii.options,
                guards=guards,
                segment_chars=spec.output.segment_chars,
            ),
            classifier=RequestClassifier(spec.refusals.categories),
            injection=InjectionDetector(
                spec.injection.mode, spec.injection.detectors, spec.injection.threshold
            ),
        )

    def screen(self, prompt: str) -> Screened:
        """Check a request: personal data (may raise
        :class:`~lmops_serve.pii.PiiBlockedError`), harmful categories, then injection.

        Categories and injection are judged on the request as sent, not on its
        redaction; in ``flag`` mode an injection goes on to the model, marked.
        """
        pii_in = None if self.pii.mode == "off" else self.pii.check(prompt, where="prompt")
        model_prompt = prompt if pii_in is None else pii_in.text
        categories = self.classifier.classify(prompt)
        if categories:
            return Screened(model_prompt, pii_in, categories[0])
        verdict = self.injection.inspect(prompt)
        blocked = verdict.flagged and self.injection.mode == "block"
        return Screened(model_prompt, pii_in, INJECTION_CATEGORY if blocked else "", verdict)

    def check_reply(self, reply: str) -> Checked | None:
        """The whole reply after the guard (``None`` in ``off`` mode: sent as it is);
        may raise :class:`~lmops_serve.pii.PiiBlockedError` in ``block`` mode."""
        return None if self.pii.mode == "off" else self.pii.check(reply, where="response")

    def answer(self, prompt: str, generate: Callable[[str], str]) -> GuardedAnswer:
        """``prompt`` answered behind this pipeline as the service answers it (the core's
        :class:`~lmops_core.runtimes.GuardPipeline`); ``guard_ms`` excludes ``generate``'s time."""
        started = time.perf_counter()
        model_s = 0.0

        def spent() -> float:
            return (time.perf_counter() - started - model_s) * 1000

        try:
            screened = self.screen(prompt)
            if screened.refused_category:
                return GuardedAnswer(
                    REFUSAL_MESSAGE,
                    refused=True,
                    category=screened.refused_category,
                    guard_ms=spent(),
                )
            called = time.perf_counter()
            raw = generate(screened.prompt)
            model_s = time.perf_counter() - called
            checked = self.check_reply(raw)
            return GuardedAnswer(raw if checked is None else checked.text, guard_ms=spent())
        except PiiBlockedError as exc:
            return GuardedAnswer(exc.message, blocked=True, guard_ms=spent())
