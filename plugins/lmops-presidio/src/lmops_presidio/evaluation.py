"""Precision and recall of findings against labelled spans, per entity type and language.

Used by the tests (on the bilingual set shipped under ``tests/data``) and by
``benchmarks/bench_presidio.py``. A gold span is found when a finding of its
type, or of an alias type, overlaps it; a finding is right when it overlaps
gold of its type or of an alias type (a UnionPay card is both a credit card
and a bank card, and is reported once, as the bank card).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

Span = tuple[str, int, int]
"""``(entity type, start, end)``."""

ALIASES: dict[str, set[str]] = {
    "CREDIT_CARD": {"CN_BANK_CARD"},
    "CN_BANK_CARD": {"CREDIT_CARD"},
    "PHONE_NUMBER": {"CN_MOBILE"},
    "CN_MOBILE": {"PHONE_NUMBER"},
}
"""Types whose findings on each other's gold spans are not errors."""


@dataclass(frozen=True)
class LabelledText:
    """A text, its language (``zh``, ``en`` or ``mixed``) and its gold spans."""

    text: str
    lang: str
    spans: tuple[Span, ...]


def load_labelled(path: Path) -> list[LabelledText]:
    """The records of a labelled JSONL file (``text``, ``lang``, ``spans``)."""
    records = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                data = json.loads(line)
                spans = tuple((str(e), int(s), int(f)) for e, s, f in data["spans"])
                records.append(LabelledText(data["text"], data["lang"], spans))
    return records


def _overlaps(types: Collection[str], start: int, end: int, spans: Iterable[Span]) -> bool:
    return any(e in types and s < end and start < f for e, s, f in spans)


@dataclass
class Score:
    """Counts per entity type: gold spans found or missed, findings right or wrong."""

    found: Counter[str] = field(default_factory=Counter)
    missed: Counter[str] = field(default_factory=Counter)
    right: Counter[str] = field(default_factory=Counter)
    wrong: Counter[str] = field(default_factory=Counter)

    def add(self, gold: Sequence[Span], predicted: Sequence[Span]) -> None:
        """Score the findings of one text."""
        for entity, start, end in gold:
            # A UnionPay card labelled CREDIT_CARD is found when reported as
            # CN_BANK_CARD (the type that wins the span).
            hit = _overlaps({entity} | ALIASES.get(entity, set()), start, end, predicted)
            (self.found if hit else self.missed)[entity] += 1
        for entity, start, end in predicted:
            ok = _overlaps({entity} | ALIASES.get(entity, set()), start, end, gold)
            (self.right if ok else self.wrong)[entity] += 1

    def gold(self, entity: str | None = None) -> int:
        """Gold spans of ``entity`` (of every type when ``None``)."""
        if entity is None:
            return sum(self.found.values()) + sum(self.missed.values())
        return self.found[entity] + self.missed[entity]

    def precision(self, entity: str | None = None) -> float:
        """Share of the findings of ``entity`` (all when ``None``) that were right; nan if none."""
        right = sum(self.right.values()) if entity is None else self.right[entity]
        wrong = sum(self.wrong.values()) if entity is None else self.wrong[entity]
        return right / (right + wrong) if right + wrong else float("nan")

    def recall(self, entity: str | None = None) -> float:
        """Share of the gold spans of ``entity`` (all when ``None``) found; nan if none."""
        found = sum(self.found.values()) if entity is None else self.found[entity]
        total = self.gold(entity)
        return found / total if total else float("nan")


def score(
    samples: Sequence[LabelledText],
    predictions: Sequence[Sequence[Span]],
    *,
    entities: Collection[str],
) -> dict[str, Score]:
    """Scores by language (and ``"all"``), counting only gold of ``entities``."""
    scores: dict[str, Score] = {"all": Score()}
    for sample, predicted in zip(samples, predictions, strict=True):
        gold = [span for span in sample.spans if span[0] in entities]
        scores["all"].add(gold, predicted)
        scores.setdefault(sample.lang, Score()).add(gold, predicted)
    return scores


def table(scores: dict[str, Score], entities: Sequence[str]) -> str:
    """A plain-text table: gold, precision and recall per entity type, per language."""
    languages = sorted(scores)
    header = f"{'entity':<16}" + "".join(f" {lang + ' n/P/R':>22}" for lang in languages)
    lines = [header]
    for entity in [*entities, None]:
        cells = []
        for lang in languages:
            s = scores[lang]
            cells.append(
                f" {s.gold(entity):>6} {s.precision(entity):>7.3f} {s.recall(entity):>7.3f}"
            )
        lines.append(f"{entity or 'overall':<16}" + "".join(cells))
    return "\n".join(lines)
