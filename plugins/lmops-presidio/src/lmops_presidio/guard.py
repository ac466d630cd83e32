"""The runtime guard services call: scan and redact text with presidio.

Other plugins never import it: lmops-presidio registers it as the guard
``"pii"`` (see :func:`lmops_presidio.plugin.make_pii_guard`), which they reach
through the core (``context.guard("pii")``). Engines are built once per process and shared by
every guard with the same model, language and phone regions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from presidio_analyzer import AnalyzerEngine, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_anonymizer.entities import OperatorResult
from presidio_anonymizer.entities import RecognizerResult as AnonymizerResult

from lmops_core.errors import ValidationError
from lmops_presidio.config import ALL_ENTITIES, DEFAULT_NER_MODEL, NER_ENTITIES, GuardConfig
from lmops_presidio.engines import (
    Entity,
    SegmentArtifacts,
    analyzer_engine,
    anonymizer_engine,
    empty_artifacts,
    prepare_batch,
    segment_entities,
)
from lmops_presidio.operators import operator_configs
from lmops_presidio.prefilter import candidate_entities, english_view, has_latin
from lmops_presidio.rescan import RescanView, blank, rescan_view, union
from lmops_presidio.zh_ner import sentences

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
    view: RescanView | None = None
    """What :meth:`PiiGuard.leftovers` reads: the source text with the redacted spans blanked
    at their own width (None when an operator kept part of a value visible)."""

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
        # English views the NER read in the previous call, and their artifacts.
        self._english: dict[str, list[Entity]] = {}

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
            written = tuple(sorted(self._written(item) for item in anonymized.items))
            out.append(
                Redaction(
                    text=anonymized.text,
                    counts=dict(sorted(counts.items())),
                    findings=tuple(_finding(result) for result in results),
                    written=written,
                    view=rescan_view(
                        text, [(r.start, r.end) for r in results], anonymized.text, written
                    ),
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
        """Personal data left in redacted texts, by re-scanning them; offsets in the output.

        What the operators wrote is blanked first (offsets hold):
        a placeholder such as ``<CN_MOBILE>`` is never itself scanned, and its
        Latin letters cannot make the English NER read a Chinese text. The
        blanks are as wide as the values they replaced (:mod:`lmops_presidio.rescan`),
        so a placeholder's length changes nothing either. What a partial mask
        left visible is original text and is scanned.
        """
        views = [
            r.view.text if r.view is not None else blank(r.text, union(r.written))
            for r in redactions
        ]
        out = []
        analyzed = self._analyze(views, _latin_readings(redactions))
        for redaction, results in zip(redactions, analyzed, strict=True):
            found = [_finding(result) for result in results]
            view = redaction.view
            if view is not None:
                found = [
                    replace(f, start=view.output_start(f.start), end=view.output_end(f.end))
                    for f in found
                ]
            out.append(found)
        return out

    def _analyze(
        self, texts: Sequence[str], latin: Mapping[str, str] | None = None
    ) -> list[list[RecognizerResult]]:
        """presidio's results for each text. ``latin`` maps a text to what the English NER
        reads in its place (same length; see :attr:`RescanView.latin`)."""
        for position, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValidationError(f"text #{position} is {type(text).__name__}, not str")
        # Datasets repeat texts (system prompts, templates): analyse each once.
        unique = list(dict.fromkeys(texts))
        by_text = dict(zip(unique, self._analyze_unique(unique, latin or {}), strict=True))
        # Results are immutable once built; sharing them between equal texts is safe.
        return [by_text[text] for text in texts]

    def _analyze_unique(
        self, texts: list[str], latin: Mapping[str, str]
    ) -> Iterator[list[RecognizerResult]]:
        """Patterns on each text, then the NER models on it with the pattern findings blanked.

        A name next to a phone number or an ID reads as it will in the
        redacted output, and the re-scan of a text in which only pattern
        findings were redacted reads what the NER models read here.
        """
        patterns = [self._patterns(text) for text in texts]
        if not self._uses_ner:
            yield from (_decided(found) for found in patterns)
            return
        views: list[str] = []
        readings: dict[str, str] = {}
        for text, found in zip(texts, patterns, strict=True):
            spans = union((r.start, r.end) for r in found)
            views.append(blank(text, spans))
            if text in latin:
                readings[views[-1]] = blank(latin[text], spans)
        for found, ner in zip(patterns, self._ner(views, readings), strict=True):
            yield _decided(found + ner)

    def _kept(self, results: list[RecognizerResult]) -> list[RecognizerResult]:
        return [r for r in results if r.score >= self.config.threshold_for(r.entity_type)]

    def _patterns(self, text: str) -> list[RecognizerResult]:
        """The pattern findings of ``text`` above their thresholds."""
        candidates = [
            name for name in candidate_entities(text, self._entities) if name not in NER_ENTITIES
        ]
        if not candidates:
            return []
        language = self.config.language
        return self._kept(
            self.analyzer.analyze(
                text=text,
                language=language,
                entities=candidates,
                nlp_artifacts=empty_artifacts(language),
                score_threshold=min(self.config.threshold_for(name) for name in candidates),
            )
        )

    def _ner(self, views: list[str], latin: Mapping[str, str]) -> list[list[RecognizerResult]]:
        """The NER findings of each view, above their thresholds (``latin``: see
        :meth:`_analyze`)."""
        analyzer = self.analyzer
        language = self.config.language
        wanted = [
            [
                name
                for name in candidate_entities(
                    view, self._entities, chinese_ner=self.config.uses_chinese_ner
                )
                if name in NER_ENTITIES
            ]
            for view in views
        ]
        readable = list(dict.fromkeys(v for v, names in zip(views, wanted, strict=True) if names))
        prepare_batch(analyzer, readable)
        artifacts = self._artifacts(analyzer, readable, latin)
        out: list[list[RecognizerResult]] = []
        for view, names in zip(views, wanted, strict=True):
            if not names:
                out.append([])
                continue
            out.append(
                self._kept(
                    analyzer.analyze(
                        text=view,
                        language=language,
                        entities=names,
                        nlp_artifacts=artifacts[view],
                        score_threshold=min(self.config.threshold_for(name) for name in names),
                    )
                )
            )
        return out

    def _artifacts(
        self, analyzer: AnalyzerEngine, texts: list[str], latin: Mapping[str, str]
    ) -> dict[str, NlpArtifacts]:
        """The English NER's artifacts of each text (empty for one without a Latin letter).

        The English NER reads a text with its CJK characters blanked
        (:func:`english_view`), sentence by sentence as LAC does
        (:func:`~lmops_presidio.zh_ner.sentences`), and only the sentences holding a Latin
        letter. What the previous call read is reused: the re-scan reads again only the
        sentences in which something the English view shows was redacted.
        """
        empty = empty_artifacts(self.config.language)
        # Locals only, then one assignment: threads sharing a guard reuse less, never wrongly.
        known = self._english
        current: dict[str, list[Entity]] = {}
        segments = {
            text: [
                (offset, english_view(unit))
                for offset, unit in sentences(latin.get(text, text))
                if has_latin(unit)
            ]
            for text in texts
            if has_latin(text)
        }
        todo = [
            view
            for view in dict.fromkeys(view for pieces in segments.values() for _, view in pieces)
            if view not in known
        ]
        done = analyzer.nlp_engine.process_batch(
            todo, self.config.language, batch_size=self.config.batch_size
        )
        for view, artifacts in done:
            current[str(view)] = segment_entities(artifacts)
        for pieces in segments.values():
            for _, view in pieces:
                if view not in current:
                    current[view] = known[view]
        self._english = current
        tokens = empty.tokens
        return {
            text: SegmentArtifacts(
                [
                    (label, start + offset, end + offset, score)
                    for offset, view in segments[text]
                    for label, start, end, score in current[view]
                ],
                tokens,
                self.config.language,
            )
            if text in segments
            else empty
            for text in texts
        }


def _latin_readings(redactions: Sequence[Redaction]) -> dict[str, str]:
    """What the English NER reads in place of each re-scanned view (:attr:`RescanView.latin`).

    Two sources can blank to the same view with different Han spans (``王芳`` and ``Jo``
    both become ``##``), or a view can equal the text scanned for a redaction without one:
    such a text is read as it is.
    """
    readings: dict[str, str] = {}
    clashes: set[str] = set()
    for redaction in redactions:
        view = redaction.view
        if view is None:
            # Scanned as the output with what was written blanked: never given a reading.
            clashes.add(blank(redaction.text, union(redaction.written)))
        elif readings.setdefault(view.text, view.latin) != view.latin:
            clashes.add(view.text)
    return {text: reading for text, reading in readings.items() if text not in clashes}


def _decided(results: list[RecognizerResult]) -> list[RecognizerResult]:
    """One finding per span, shadowed ones dropped, by position."""
    kept = merge_same_span(drop_shadowed(results))
    kept.sort(key=lambda r: (r.start, r.end, r.entity_type))
    return kept


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
