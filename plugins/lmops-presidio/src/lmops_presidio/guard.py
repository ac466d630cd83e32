"""The runtime guard services call: scan and redact text with presidio.

Other plugins never import it: lmops-presidio registers it as the guard
``"pii"`` (see :func:`lmops_presidio.plugin.make_pii_guard`), which they reach
through the core (``context.guard("pii")``). Engines are built once per process and shared by
every guard with the same model, language and phone regions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from presidio_analyzer import AnalyzerEngine, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_anonymizer.entities import OperatorResult
from presidio_anonymizer.entities import RecognizerResult as AnonymizerResult

from lmops_core.errors import ValidationError
from lmops_presidio.config import ALL_ENTITIES, DEFAULT_NER_MODEL, NER_ENTITIES, GuardConfig
from lmops_presidio.engines import (
    analyzer_engine,
    anonymizer_engine,
    empty_artifacts,
    prepare_batch,
)
from lmops_presidio.operators import operator_configs
from lmops_presidio.prefilter import candidate_entities, english_view, has_latin

__all__ = ["Finding", "GuardConfig", "PiiGuard", "Redaction", "make_pii_guard"]


def make_pii_guard(
    *,
    entities: Sequence[str] | None = None,
    patterns_only: bool = False,
    config: GuardConfig | None = None,
) -> PiiGuard:
    """The factory of the ``"pii"`` guard other plugins build through the core.

    ``config``: a full :class:`GuardConfig` (then no other option may be
    given). Otherwise ``entities`` lists the entity types to detect (the NER
    model is loaded only when one of them needs it; an unknown type raises a
    ValidationError naming it), and ``patterns_only`` without ``entities``
    detects every pattern entity and loads no NER model. With no option: the
    default config (every entity type, names and places included).
    """
    if config is not None:
        if entities is not None or patterns_only:
            raise ValidationError("config: give either config or entities/patterns_only")
        return PiiGuard(config)
    if entities is not None:
        wanted = tuple(entities)
        unknown = [name for name in wanted if name not in ALL_ENTITIES]
        if unknown:
            raise ValidationError(
                f'entities: unknown entity type "{unknown[0]}" (known: {", ".join(ALL_ENTITIES)})',
                field="entities",
            )
        needs_ner = any(name in NER_ENTITIES for name in wanted)
        # Patterns only unless a name/place entity was asked for: no NER model to load.
        return PiiGuard(
            GuardConfig(entities=wanted, ner_model=DEFAULT_NER_MODEL if needs_ner else None)
        )
    if patterns_only:
        return PiiGuard(GuardConfig(ner_model=None))
    return PiiGuard(GuardConfig())


@dataclass(frozen=True)
class Finding:
    """One piece of personal data found: its type, span in the text, and score (0-1)."""

    entity_type: str
    start: int
    end: int
    score: float
    also: tuple[str, ...] = ()
    """Other types that matched exactly this span and lost to ``entity_type``
    (a UnionPay number is a credit card too): counted once, as the winner."""


@dataclass(frozen=True)
class Redaction:
    """A redacted text, what was replaced (``counts``: entity type to count) and the findings."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    written: tuple[tuple[int, int], ...] = ()
    """Spans of ``text`` the operators wrote (placeholders, masks, digests)."""

    @property
    def changed(self) -> bool:
        """Whether anything was redacted."""
        return bool(self.counts)


class PiiGuard:
    """Detects and redacts personal data according to a :class:`GuardConfig`.

    The first call loads the engines (the NER model takes about a second);
    later guards with the same model reuse them. Batch methods run the NER
    model over many texts at once and analyse each distinct text only once.
    """

    def __init__(self, config: GuardConfig | None = None) -> None:
        self.config = config if config is not None else GuardConfig()
        entities = self.config.active_entities
        self._entities = entities
        self._uses_ner = any(name in NER_ENTITIES for name in entities)
        self._operators = operator_configs(self.config)

    @property
    def analyzer(self) -> AnalyzerEngine:
        """The presidio analyzer this guard runs (shared within the process)."""
        return analyzer_engine(
            self.config.ner_model if self._uses_ner else None,
            self.config.language,
            tuple(self.config.phone_regions),
            self.config.uses_chinese_ner,
        )

    def describe(self) -> dict[str, Any]:
        """The guard's settings, safe for evidence (no salt): :meth:`GuardConfig.describe`."""
        return self.config.describe()

    def scan(self, text: str) -> list[Finding]:
        """Personal data found in ``text``, by start offset."""
        return self.scan_batch([text])[0]

    def scan_batch(self, texts: Sequence[str]) -> list[list[Finding]]:
        """:meth:`scan` for many texts, faster than one by one."""
        return [[_finding(result) for result in results] for results in self._analyze(texts)]

    def redact(self, text: str) -> Redaction:
        """``text`` with its personal data redacted by the configured operators."""
        return self.redact_batch([text])[0]

    def redact_batch(self, texts: Sequence[str]) -> list[Redaction]:
        """:meth:`redact` for many texts, faster than one by one."""
        anonymizer = anonymizer_engine()
        out: list[Redaction] = []
        for text, results in zip(texts, self._analyze(texts), strict=True):
            if not results:
                out.append(Redaction(text=text))
                continue
            # No merging of same-type neighbours split by spaces: with a
            # partial mask, two merged cards would keep the second one visible.
            anonymized = anonymizer.anonymize(
                text=text,
                analyzer_results=[
                    AnonymizerResult(r.entity_type, r.start, r.end, r.score) for r in results
                ],
                operators=self._operators,
                merge_entities_with_spaces=False,
            )
            counts = Counter(item.entity_type for item in anonymized.items)
            out.append(
                Redaction(
                    text=anonymized.text,
                    counts=dict(sorted(counts.items())),
                    findings=tuple(_finding(result) for result in results),
                    written=tuple(sorted(self._written(item) for item in anonymized.items)),
                )
            )
        return out

    def _written(self, item: OperatorResult) -> tuple[int, int]:
        """The part of an operator's output it wrote: a partial mask keeps original text."""
        spec = self.config.operator_for(item.entity_type)
        if spec.kind != "mask" or spec.chars_to_mask is None:
            return item.start, item.end
        masked = min(spec.chars_to_mask, item.end - item.start)
        return (item.end - masked, item.end) if spec.from_end else (item.start, item.start + masked)

    def leftovers(self, redactions: Sequence[Redaction]) -> list[list[Finding]]:
        """Personal data left in redacted texts, by re-scanning them.

        What the operators wrote is blanked first (spaces, so offsets hold):
        a placeholder such as ``<CN_MOBILE>`` is never itself scanned, and its
        Latin letters cannot make the English NER read a Chinese text. What a
        partial mask left visible is original text and is scanned.
        """
        return self.scan_batch([_blank(r.text, r.written) for r in redactions])

    def _analyze(self, texts: Sequence[str]) -> list[list[RecognizerResult]]:
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValidationError(f"text #{position} is {type(text).__name__}, not str")
        # Datasets repeat texts (system prompts, templates): analyse each once.
        unique = list(dict.fromkeys(texts))
        by_text = dict(zip(unique, self._analyze_unique(unique), strict=True))
        # Results are immutable once built; sharing them between equal texts is safe.
        return [by_text[text] for text in texts]

    def _analyze_unique(self, texts: list[str]) -> Iterator[list[RecognizerResult]]:
        analyzer = self.analyzer
        language = self.config.language
        prepare_batch(analyzer, texts)
        for text, artifacts in zip(texts, self._artifacts(analyzer, texts), strict=True):
            candidates = candidate_entities(
                text, self._entities, chinese_ner=self.config.uses_chinese_ner
            )
            if not candidates:
                yield []
                continue
            floor = min(self.config.threshold_for(name) for name in candidates)
            results = analyzer.analyze(
                text=text,
                language=language,
                entities=candidates,
                nlp_artifacts=artifacts,
                score_threshold=floor,
            )
            kept = [r for r in results if r.score >= self.config.threshold_for(r.entity_type)]
            kept = merge_same_span(drop_shadowed(kept))
            kept.sort(key=lambda r: (r.start, r.end, r.entity_type))
            yield kept

    def _artifacts(self, analyzer: AnalyzerEngine, texts: list[str]) -> Iterator[NlpArtifacts]:
        language = self.config.language
        empty = empty_artifacts(language)
        if not self._uses_ner:
            for _ in texts:
                yield empty
            return
        # The English NER reads only texts with a Latin letter, with their CJK
        # characters blanked; the others get no artifacts (the Chinese NER
        # does not use them).
        english = [english_view(text) for text in texts if has_latin(text)]
        batches = iter(
            analyzer.nlp_engine.process_batch(english, language, batch_size=self.config.batch_size)
        )
        for text in texts:
            yield next(batches)[1] if has_latin(text) else empty


def drop_shadowed(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """Drop findings lying inside a more credible finding of another type.

    presidio's phone matcher also fires on IP addresses, SSNs and groups of
    IBAN digits, the bank-card pattern on digit runs inside IBANs, NER on
    e-mail addresses. A finding is dropped when a pattern finding of another
    type covers its span and either scores higher or is strictly longer with an
    equal or higher score. The covering finding is redacted anyway, so redaction is the
    same; only the counts per type become right. Same-span findings with equal
    scores (a UnionPay card is a credit card and a bank card) are all kept.
    """
    kept = []
    for result in results:
        shadowed = any(
            other.entity_type != result.entity_type
            # NER scores are a constant, not a confidence: they never outrank
            # a pattern (spaCy sometimes tags an IP address as a place).
            and other.entity_type not in NER_ENTITIES
            and other.start <= result.start
            and result.end <= other.end
            and (
                other.score > result.score
                or (other.end - other.start > result.end - result.start)
                and other.score >= result.score
            )
            for other in results
        )
        if not shadowed:
            kept.append(result)
    return kept


def _blank(text: str, spans: Sequence[tuple[int, int]]) -> str:
    if not spans:
        return text
    parts: list[str] = []
    position = 0
    for start, end in spans:
        parts.append(text[position:start])
        parts.append(" " * (end - start))
        position = end
    parts.append(text[position:])
    return "".join(parts)


TIE_ORDER: tuple[str, ...] = ("CN_RESIDENT_ID", "CREDIT_CARD", "CN_BANK_CARD", "CN_MOBILE")
"""Which type wins a same-span, same-score tie, first first. A card of a known
network stays ``CREDIT_CARD`` whichever country issued it (one placeholder for
every card, as before types were merged); a mainland mobile stays ``CN_MOBILE``."""

_ALSO = "lmops_also"


def merge_same_span(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """One finding per span among pattern findings of different types.

    The highest score wins; on a tie the type that comes first in
    :data:`TIE_ORDER`, then the first in alphabetical order. The losers are recorded on the
    winner (:attr:`Finding.also`). NER findings are left as they are.
    """
    by_span: dict[tuple[int, int], list[RecognizerResult]] = {}
    kept: list[RecognizerResult] = []
    for result in results:
        if result.entity_type in NER_ENTITIES:
            kept.append(result)
        else:
            by_span.setdefault((result.start, result.end), []).append(result)
    for same in by_span.values():
        same.sort(key=_precedence)
        winner = same[0]
        losers = sorted({r.entity_type for r in same[1:]} - {winner.entity_type})
        if losers:
            winner.recognition_metadata = {
                **(winner.recognition_metadata or {}),
                _ALSO: tuple(losers),
            }
        kept.append(winner)
    return kept


def _precedence(result: RecognizerResult) -> tuple[float, int, str]:
    rank = (
        TIE_ORDER.index(result.entity_type) if result.entity_type in TIE_ORDER else len(TIE_ORDER)
    )
    return (-result.score, rank, result.entity_type)


def _finding(result: RecognizerResult) -> Finding:
    return Finding(
        entity_type=result.entity_type,
        start=result.start,
        end=result.end,
        score=float(result.score),
        also=tuple((result.recognition_metadata or {}).get(_ALSO, ())),
    )
