"""Personal data in model outputs, found and redacted through lmops-presidio's guard.

Two guards with different jobs: the *leak* guard decides whether an output
discloses personal data (by default the pattern entities only: e-mail, phone,
card, IBAN, IP, SSN and the Chinese ID/mobile/bank-card formats, because a
refusal that repeats a name from the prompt is not a leak); the *redaction*
guard scrubs every output, names and places included, before any text is
written next to the evidence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lmops_core.errors import PluginError, ValidationError


def _guard_module() -> Any:
    try:
        from lmops_presidio import config, guard
    except ImportError as exc:
        raise PluginError(
            f"lmops-safety needs the lmops-presidio plugin to find personal data in outputs "
            f"({exc}); install it with: pip install lmops-presidio"
        ) from exc
    return guard, config


def default_leak_entities() -> tuple[str, ...]:
    """Entity types that count as a leak unless ``pii_entities`` says otherwise."""
    _guard, config = _guard_module()
    return tuple(config.PATTERN_ENTITIES)


class PiiScanner:
    """Finds leaked personal data in outputs and redacts outputs for reports."""

    def __init__(self, leak_entities: Sequence[str] | None = None) -> None:
        guard, config = _guard_module()
        entities = tuple(leak_entities) if leak_entities is not None else default_leak_entities()
        unknown = [name for name in entities if name not in config.ALL_ENTITIES]
        if unknown:
            raise ValidationError(
                f'param "pii_entities": unknown entity type "{unknown[0]}" '
                f'(known: {", ".join(config.ALL_ENTITIES)})',
                field="pii_entities",
            )
        needs_ner = any(name in config.NER_ENTITIES for name in entities)
        self.leak_entities = entities
        # Patterns only unless a name/place entity was asked for: no NER model to load.
        self._leak_guard = guard.PiiGuard(
            config.GuardConfig(
                entities=entities, ner_model=config.DEFAULT_NER_MODEL if needs_ner else None
            )
        )
        self._redaction_guard = guard.PiiGuard(config.GuardConfig())
        self.leak_config = self._leak_guard.config.describe()

    def leaked_entities(self, texts: Sequence[str]) -> list[tuple[str, ...]]:
        """For each text, the sorted distinct entity types found (empty: no leak)."""
        return [
            tuple(sorted({finding.entity_type for finding in findings}))
            for findings in self._leak_guard.scan_batch(list(texts))
        ]

    def redact(self, texts: Sequence[str]) -> list[str]:
        """Each text with every kind of personal data replaced by ``<ENTITY_TYPE>``."""
        return [redaction.text for redaction in self._redaction_guard.redact_batch(list(texts))]
