"""The dataset card: what a dataset version holds, computed in one streaming pass.

Cards of partitions merge exactly into the card of the whole (see :meth:`CardBuilder.merge`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def script_of(text: str) -> str:
    """A coarse language label from the script of the letters: ``zh``, ``en``, ``other``."""
    cjk = latin = other = 0
    for ch in text:
        o = ord(ch)
        if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF:
            cjk += 1
        elif ch.isascii() and ch.isalpha():
            latin += 1
        elif ch.isalpha():
            other += 1
    if cjk == latin == other == 0:
        return "none"
    if cjk >= max(latin / 4, other):
        return "zh"
    return "en" if latin >= other else "other"


@dataclass
class _Lengths:
    """Exact length statistics, kept as a histogram so two of them merge exactly.

    A histogram of lengths holds one entry per distinct length (a few thousand
    for real text), so quantiles are exact at any size and the statistics of
    partitions add up to those of the whole.
    """

    count: int = 0
    total: int = 0
    histogram: Counter[int] = field(default_factory=Counter)

    def add(self, value: int) -> None:
        self.count += 1
        self.total += value
        self.histogram[value] += 1

    def merge(self, other: _Lengths) -> None:
        self.count += other.count
        self.total += other.total
        self.histogram.update(other.histogram)

    def _at(self, index: int) -> int:
        """The ``index``-th smallest value (0-based)."""
        seen = 0
        for value in sorted(self.histogram):
            seen += self.histogram[value]
            if seen > index:
                return value
        raise IndexError(index)

    def summary(self) -> dict[str, float]:
        if not self.count:
            return {"min": 0, "max": 0, "mean": 0.0, "p50": 0, "p95": 0}
        n = self.count
        return {
            "min": min(self.histogram),
            "max": max(self.histogram),
            "mean": round(self.total / n, 3),
            "p50": self._at(n // 2),
            "p95": self._at(min(n - 1, int(n * 0.95))),
        }


class CardBuilder:
    """Accumulates card statistics record by record (memory bounded by the duplicate set).

    Every statistic is mergeable: the cards of a dataset's partitions, built
    apart and merged (:meth:`merge`) in partition order, equal the card of all the
    records built in one pass.
    """

    def __init__(self, shape: str, token_counter: Callable[[str], int] | None = None) -> None:
        self.shape = shape
        self.token_counter = token_counter
        self.records = 0
        self._seen: set[bytes] = set()
        self._chars = _Lengths()
        self._tokens = _Lengths()
        self._langs: Counter[str] = Counter()

    @property
    def duplicates(self) -> int:
        """Records whose canonical form an earlier record already had."""
        return self.records - len(self._seen)

    def add(self, canonical_json: bytes, texts: list[str]) -> None:
        """Count one record: its canonical JSON (no newline) and its text fields."""
        self.records += 1
        self._seen.add(hashlib.blake2b(canonical_json, digest_size=12).digest())
        joined = "\n".join(texts)
        self._chars.add(len(joined))
        if self.token_counter is not None:
            self._tokens.add(self.token_counter(joined))
        self._langs[script_of(joined)] += 1

    def merge(self, other: CardBuilder) -> None:
        """Add the statistics of ``other`` (records that come after this builder's)."""
        if other.shape != self.shape:
            raise ValueError(f"cannot merge a {other.shape} card into a {self.shape} card")
        self.records += other.records
        self._seen |= other._seen
        self._chars.merge(other._chars)
        self._tokens.merge(other._tokens)
        self._langs.update(other._langs)

    def metrics(self, digest: str) -> dict[str, Any]:
        chars = self._chars.summary()
        out: dict[str, Any] = {
            "records": self.records,
            "duplicates": self.duplicates,
            "chars_mean": chars["mean"],
            "chars_p95": chars["p95"],
            "content_digest": digest,
        }
        for lang, n in self._langs.items():
            out[f"lang.{lang}"] = round(n / self.records, 4) if self.records else 0.0
        if self.token_counter is not None:
            out["tokens_mean"] = self._tokens.summary()["mean"]
        return out

    def details(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "shape": self.shape,
            "chars": self._chars.summary(),
            "languages": dict(self._langs),
        }
        if self.token_counter is not None:
            d["tokens"] = self._tokens.summary()
        return d
