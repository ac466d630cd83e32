"""One request through the service: guard, refusal and injection checks, generation,
metrics, log."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime
from typing import Any

from lmops_core.deploy import VerifiedBundle
from lmops_core.deploy.prompts import ServedPrompt
from lmops_core.runtimes import GenerationOptions
from lmops_serve.generator import Generator, count_tokens
from lmops_serve.guard_config import GuardSpec
from lmops_serve.guard_pipeline import GuardPipeline
from lmops_serve.inference_log import InferenceLog, InferenceRecord
from lmops_serve.injection import NOTHING_FOUND, InjectionVerdict
from lmops_serve.pii import Checked, PiiBlockedError, Segment, ServiceGuard
from lmops_serve.request_filter import REFUSAL_MESSAGE


@dataclass
class Outcome:
    """What a finished request produced; ``text`` is what the client received."""

    request_id: str
    text: str
    refused: bool = False
    category: str = ""
    blocked: bool = False
    #: Redaction results; None until computed (``off`` mode computes them only for the log).
    pii_in: Checked | None = None
    pii_out: Checked | None = None
    #: What the injection detectors found in the request (nothing when they are off).
    injection: InjectionVerdict = NOTHING_FOUND
    latency_ms: float = 0.0
    ttft_ms: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0

    def metrics(self) -> dict[str, Any]:
        """Per-request metrics returned to the client."""
        return {
            "latency_ms": round(self.latency_ms, 3),
            "ttft_ms": round(self.ttft_ms, 3),
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
        }

    def public(self, model: dict[str, str]) -> dict[str, Any]:
        """The JSON body of a non-streamed response."""
        return {
            "request_id": self.request_id,
            "text": self.text,
            "refused": self.refused,
            "refused_category": self.category or None,
            "pii_in": self.pii_in.counts if self.pii_in else {},
            "pii_out": self.pii_out.counts if self.pii_out else {},
            "metrics": self.metrics(),
            "model": model,
        }


@dataclass(eq=False)  # one service per running bundle, compared by identity
class InferenceService:
    """A verified bundle's model behind the guard pipeline and the log."""

    bundle: VerifiedBundle
    generator: Generator
    engine: str
    _: KW_ONLY
    pipeline: GuardPipeline
    log: InferenceLog | None
    #: The approved prompt version every request is sent through, if any.
    prompt: ServedPrompt | None = None
    #: The guard version (``guard:NAME@N``) the bundle pins, when it pins a registered one.
    guard_ref: str = ""

    @property
    def guard_identity(self) -> dict[str, str]:
        """The live guard configuration: name and digest, and its version when pinned."""
        identity = self.guard_spec.identity()
        return {**identity, "ref": self.guard_ref} if self.guard_ref else identity

    @property
    def guard(self) -> ServiceGuard:
        """The PII guard (it also redacts the log in every mode)."""
        return self.pipeline.pii

    @property
    def guard_spec(self) -> GuardSpec:
        """The guard configuration that is live (its name and digest go in every log line)."""
        return self.pipeline.spec

    @property
    def model(self) -> dict[str, str]:
        """The model identity reported with every response (and the prompt version's)."""
        served = {
            "ref": self.bundle.model_ref,
            "digest": self.bundle.model_digest,
            "bundle_digest": self.bundle.digest,
        }
        if self.prompt is not None:
            served.update(prompt_ref=self.prompt.ref, prompt_digest=self.prompt.digest)
        return served

    def _begin(self, prompt: str) -> tuple[Outcome, str | None, float]:
        started = time.perf_counter()
        out = Outcome(request_id=uuid.uuid4().hex, text="")
        try:
            screened = self.pipeline.screen(prompt)
        except PiiBlockedError:
            out.blocked = True
            self._finish(out, prompt, started, stream=False)
            raise
        out.pii_in, out.injection = screened.pii_in, screened.injection
        model_prompt = screened.prompt
        if screened.refused_category:
            out.refused, out.category, out.text = True, screened.refused_category, REFUSAL_MESSAGE
            return out, None, started
        if self.prompt is not None:  # the guard saw the request; the model sees the prompt
            model_prompt = self.prompt.render(model_prompt)
        out.tokens_in = count_tokens(self.generator, model_prompt)
        return out, model_prompt, started

    @staticmethod
    def _options(max_new_tokens: int, temperature: float | None) -> GenerationOptions:
        if not temperature:  # none, or 0: greedy decoding
            return GenerationOptions(max_new_tokens)
        return GenerationOptions(max_new_tokens, do_sample=True, temperature=temperature)

    def generate(self, prompt: str, max_new_tokens: int, temperature: float | None) -> Outcome:
        """Answer one prompt; raises :class:`PiiBlockedError` in block mode."""
        out, model_prompt, started = self._begin(prompt)
        if model_prompt is not None:
            raw = self.generator.generate(model_prompt, self._options(max_new_tokens, temperature))
            out.ttft_ms = (time.perf_counter() - started) * 1000
            out.tokens_out = count_tokens(self.generator, raw)
            try:
                out.pii_out = self.pipeline.check_reply(raw)
            except PiiBlockedError:
                out.blocked = True
                self._finish(out, prompt, started, stream=False, response=raw)
                raise
            out.text = raw if out.pii_out is None else out.pii_out.text
        else:
            out.ttft_ms = (time.perf_counter() - started) * 1000
        self._finish(out, prompt, started, stream=False, response=out.text)
        return out

    def stream(
        self, prompt: str, max_new_tokens: int, temperature: float | None
    ) -> tuple[Outcome, Iterator[str]]:
        """Check the prompt now (may raise), then a lazy iterator of released text pieces."""
        out, model_prompt, started = self._begin(prompt)

        def pieces() -> Iterator[str]:
            if model_prompt is None:
                out.ttft_ms = (time.perf_counter() - started) * 1000
                self._finish(out, prompt, started, stream=True, response=out.text)
                yield out.text
                return
            raw_parts: list[str] = []

            def source() -> Iterator[str]:
                options = self._options(max_new_tokens, temperature)
                for piece in self.generator.stream(model_prompt, options):
                    raw_parts.append(piece)
                    yield piece

            sent: list[Segment] = []
            try:
                for segment in self.guard.stream(source()):
                    if not out.ttft_ms:
                        out.ttft_ms = (time.perf_counter() - started) * 1000
                    sent.append(segment)
                    yield segment.text
            except PiiBlockedError:
                out.blocked = True
                raise
            finally:
                raw = "".join(raw_parts)
                out.tokens_out = count_tokens(self.generator, raw)
                out.text = "".join(segment.text for segment in sent)
                if self.log is not None:
                    out.pii_out = _whole_reply(self.guard, sent, raw)
                self._finish(out, prompt, started, stream=True, response=raw)

        return out, pieces()

    def _finish(
        self, out: Outcome, prompt: str, started: float, *, stream: bool, response: str = ""
    ) -> None:
        out.latency_ms = (time.perf_counter() - started) * 1000
        if self.log is None:
            return
        # The log never holds raw text: whatever the mode, both sides are redacted first.
        # (In redact mode, pii_in is the redaction of the prompt already; block mode
        # raised before setting it, and off mode never set it.)
        pin = out.pii_in if out.pii_in is not None else self.guard.redact(prompt)
        pout = (
            out.pii_out
            if out.pii_out is not None
            else self.guard.redact(response)
            if response
            else Checked(text="")
        )
        out.pii_in, out.pii_out = pin, pout
        self.log.append(
            InferenceRecord(
                ts=datetime.now(UTC).isoformat(),
                request_id=out.request_id,
                prompt=pin.text,
                response=pout.text,
                latency_ms=round(out.latency_ms, 3),
                ttft_ms=round(out.ttft_ms, 3),
                tokens_in=out.tokens_in,
                tokens_out=out.tokens_out,
                pii_in=pin.total,
                pii_out=pout.total,
                pii_in_types=pin.types(),
                pii_out_types=pout.types(),
                refused=out.refused,
                refused_category=out.category,
                blocked=out.blocked,
                injection_score=out.injection.score,
                injection_rules=out.injection.names(),
                injection_flagged=out.injection.flagged,
                stream=stream,
                model_ref=self.bundle.model_ref,
                model_digest=self.bundle.model_digest,
                bundle_digest=self.bundle.digest,
                prompt_ref=self.prompt.ref if self.prompt else "",
                prompt_digest=self.prompt.digest if self.prompt else "",
                guard_name=self.guard_spec.name,
                guard_digest=self.guard_spec.digest,
                guard_ref=self.guard_ref,
            )
        )


def _whole_reply(guard: ServiceGuard, sent: list[Segment], raw: str) -> Checked:
    """The whole streamed reply redacted, for the log.

    Segments were checked one by one, so personal data split across two of
    them is redacted only here; a reply sent as one checked segment already
    had exactly this redaction, and is not read again.
    """
    if len(sent) == 1 and sent[0].checked is not None and sent[0].source == raw:
        return sent[0].checked
    return guard.redact(raw)
