"""Keeping personal data out of evidence: redacting the tokens and answers a report shows.

Attributions are computed on the real prompt (the model must see what it was
asked); only what is *shown* is redacted. A token segment that overlaps
personal data found by the ``pii`` guard (lmops-presidio's, reached through
the core) is replaced: the first segment of
a finding by ``<ENTITY_TYPE>``, the following ones by an empty string (text of
a segment outside the finding, such as a leading space, is kept), so the
values stay aligned with positions while the personal data disappears.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lmops_core.runtimes import GuardSource


class TokenRedactor:
    """Redacts token segments and free text with a :class:`~lmops_core.runtimes.TextGuard`."""

    def __init__(self, guard: Any) -> None:
        self._guard = guard

    def redact_text(self, text: str) -> str:
        """``text`` with personal data replaced by ``<ENTITY_TYPE>``."""
        return str(self._guard.redact(text).text)

    def redact_segments(self, prompt: str, segments: Sequence[str]) -> list[str]:
        """``segments`` (the masker's pieces of ``prompt``) with personal data blanked out.

        The segments cover the end of the prompt in order (special tokens are
        empty); if they do not, every segment is replaced when the prompt
        holds any personal data, failing closed rather than guessing.
        """
        findings = self._guard.scan(prompt)
        if not findings:
            return list(segments)
        joined = "".join(segments)
        if not prompt.endswith(joined):
            return [f"<{findings[0].entity_type}>" if s else s for s in segments]
        position = len(prompt) - len(joined)
        shown: list[str] = []
        started: set[int] = set()
        for segment in segments:
            start, end = position, position + len(segment)
            position = end
            hit = next(
                (n for n, f in enumerate(findings) if segment and start < f.end and f.start < end),
                None,
            )
            if hit is None:
                shown.append(segment)
                continue
            finding = findings[hit]
            # Text of the segment outside the finding (a leading space, a trailing word) stays.
            before = segment[: max(0, finding.start - start)]
            after = segment[len(segment) - max(0, end - finding.end) :] if finding.end < end else ""
            tag = "" if hit in started else f"<{finding.entity_type}>"
            started.add(hit)
            shown.append(before + tag + after)
        return shown


def default_redactor(guards: GuardSource | None = None) -> TokenRedactor | None:
    """A redactor over the default ``pii`` guard, or ``None`` when no plugin offers one.

    ``guards``: the run's stage context (by default the plugins installed
    here). Only absence is tolerated: while a plugin failed to load the lookup
    raises, so a broken install fails loudly instead of turning redaction off.
    """
    if guards is None:
        from lmops_core.plugins import default_host

        guards = default_host()
    found = guards.find_guard("pii")
    return TokenRedactor(found.build()) if found is not None else None
