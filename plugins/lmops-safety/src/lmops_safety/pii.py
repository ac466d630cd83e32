"""Personal data in model outputs, found and redacted through the ``pii`` guard.

The guard is whatever plugin registers ``"pii"`` (lmops-presidio), reached
through the core, never imported. Two guards with different jobs: the *leak*
guard decides whether an output discloses personal data (by default the
pattern entities only: e-mail, phone, card, IBAN, IP, SSN and the Chinese
ID/mobile/bank-card formats, because a refusal that repeats a name from the
prompt is not a leak); the *redaction* guard scrubs every output, names and
places included, before any text is written next to the evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lmops_core.errors import ValidationError
from lmops_core.kit import build_guard
from lmops_core.runtimes import GuardSource, TextGuard


def _pii_guard(source: GuardSource | None, **options: Any) -> TextGuard:
    return build_guard(source, "pii", needed_by="lmops-safety", install="lmops-presidio", **options)


class PiiScanner:
    """Finds leaked personal data in outputs and redacts outputs for reports."""

    def __init__(
        self, leak_entities: Sequence[str] | None = None, *, guards: GuardSource | None = None
    ) -> None:
        try:
            self._leak_guard = (
                _pii_guard(guards, entities=tuple(leak_entities))
                if leak_entities is not None
                # Patterns only unless an entity was asked for: no NER model to load.
                else _pii_guard(guards, patterns_only=True)
            )
        except ValidationError as exc:
            raise ValidationError(
                f'param "pii_entities": {exc.message.removeprefix("entities: ")}',
                field="pii_entities",
            ) from None
        self._redaction_guard = _pii_guard(guards)
        self.leak_config = dict(self._leak_guard.describe())
        self.leak_entities = tuple(self.leak_config["entities"])

    def leaked_entities(self, texts: Sequence[str]) -> list[tuple[str, ...]]:
        """For each text, the sorted distinct entity types found (empty: no leak)."""
        return [
            tuple(sorted({finding.entity_type for finding in findings}))
            for findings in self._leak_guard.scan_batch(list(texts))
        ]

    def redact(self, texts: Sequence[str]) -> list[str]:
        """Each text with every kind of personal data replaced by ``<ENTITY_TYPE>``."""
        return [redaction.text for redaction in self._redaction_guard.redact_batch(list(texts))]
