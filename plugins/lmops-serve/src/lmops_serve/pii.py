"""The PII guard of the service: the ``pii`` guard (lmops-presidio) on prompts and replies.

The guard is looked up through the core by name, never imported: without a
plugin that offers ``"pii"`` the service refuses to start (fail closed).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lmops_core.errors import ValidationError
from lmops_core.kit import build_guard
from lmops_core.runtimes import GuardSource
from lmops_serve.batching import RedactionBatcher
from lmops_serve.guard_config import DEFAULT_SEGMENT_CHARS

GuardMode = Literal["redact", "block", "off"]
GUARD_MODES: tuple[str, ...] = ("redact", "block", "off")


class PiiBlockedError(ValidationError):
    """Personal data found where the guard is in block mode; names types, never values."""

    code = "pii_blocked"


@dataclass(frozen=True)
class Checked:
    """Text after the guard, and the entity counts found in the original."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """How many findings."""
        return sum(self.counts.values())

    def types(self) -> str:
        """``TYPE:n,TYPE:n`` for flat logs."""
        return ",".join(f"{k}:{v}" for k, v in sorted(self.counts.items()))


class ServiceGuard:
    """Applies one mode to inputs and outputs; the log always gets redacted text.

    ``options`` are given to the ``pii`` guard's factory (lmops-presidio's:
    ``entities``, ``patterns_only``, ``config``). Streamed output is checked in
    segments of about ``segment_chars`` (see :meth:`stream`).
    """

    def __init__(
        self,
        mode: str = "redact",
        options: Mapping[str, Any] | None = None,
        *,
        guards: GuardSource | None = None,
        segment_chars: int = DEFAULT_SEGMENT_CHARS,
    ) -> None:
        if mode not in GUARD_MODES:
            raise ValidationError(
                f"guard_mode must be one of {', '.join(GUARD_MODES)}, got {mode!r}",
                field="guard_mode",
            )
        self.mode = mode
        self.segment_chars = segment_chars
        # Even with mode "off" the inference log is redacted: no guard, no service.
        self.pii = build_guard(
            guards, "pii", needed_by="lmops-serve", install="lmops-presidio", **dict(options or {})
        )
        # Concurrent requests' texts share the guard's NER runs (lmops_serve.batching).
        self._batcher = RedactionBatcher(self.pii)

    def redact(self, text: str) -> Checked:
        """Redacted text and counts, whatever the mode (used for the log)."""
        result = self._batcher.redact(text)
        return Checked(text=result.text, counts=dict(result.counts))

    def check(self, text: str, *, where: str) -> Checked:
        """Apply the mode: redact, raise :class:`PiiBlockedError`, or pass through (``off``)."""
        if self.mode == "off":
            return Checked(text=text)
        checked = self.redact(text)
        if self.mode == "block" and checked.counts:
            raise PiiBlockedError(
                f"the {where} contains personal data ({checked.types()}); this service blocks it",
                field=where,
                entities=checked.counts,
            )
        return checked

    def stream(self, pieces: Iterator[str]) -> Iterator[Segment]:
        """Guard streamed output: one :class:`Segment` per released piece of text.

        In ``off`` mode every piece is released as it comes, unchecked. Otherwise
        pieces are held until a whitespace boundary past ``segment_chars``,
        then the segment is checked; personal data split across two segments can
        be missed here, but never reaches the log (the whole reply is redacted).
        """
        if self.mode == "off":
            for piece in pieces:
                yield Segment(source=piece, checked=None)
            return
        buffer = ""
        for piece in pieces:
            buffer += piece
            cut = _cut_point(buffer, self.segment_chars)
            if cut:
                yield Segment(buffer[:cut], self.check(buffer[:cut], where="response"))
                buffer = buffer[cut:]
        if buffer:
            yield Segment(buffer, self.check(buffer, where="response"))


@dataclass(frozen=True)
class Segment:
    """A piece of streamed output: its ``source`` text and, when checked, the guard's answer."""

    source: str
    checked: Checked | None

    @property
    def text(self) -> str:
        """What the client receives."""
        return self.source if self.checked is None else self.checked.text


def _cut_point(text: str, segment_chars: int) -> int:
    if len(text) < segment_chars:
        return 0
    last = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t"))
    return last + 1 if last >= segment_chars // 2 else 0
