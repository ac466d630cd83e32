"""The dataset card: what a dataset version holds, computed in one streaming pass."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_RESERVOIR = 10_000


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
    count: int = 0
    total: int = 0
    lo: int | None = None
    hi: int = 0
    sample: list[int] = field(default_factory=list)

    def add(self, value: int, rng: random.Random) -> None:
        self.count += 1
        self.total += value
        self.lo = value if self.lo is None else min(self.lo, value)
        self.hi = max(self.hi, value)
        if len(self.sample) < _RESERVOIR:
            self.sample.append(value)
        else:
            j = rng.randrange(self.count)
            if j < _RESERVOIR:
                self.sample[j] = value

    def summary(self) -> dict[str, float]:
        if not self.count:
            return {"min": 0, "max": 0, "mean": 0.0, "p50": 0, "p95": 0}
        s = sorted(self.sample)
        return {
            "min": self.lo or 0,
            "max": self.hi,
            "mean": round(self.total / self.count, 3),
            "p50": s[len(s) // 2],
            "p95": s[min(len(s) - 1, int(len(s) * 0.95))],
        }


class CardBuilder:
    """Accumulates card statistics record by record (memory bounded by the duplicate set)."""

    def __init__(self, shape: str, token_counter: Callable[[str], int] | None = None) -> None:
        self.shape = shape
        self.token_counter = token_counter
        self.records = 0
        self.duplicates = 0
        self._seen: set[bytes] = set()
        self._chars = _Lengths()
        self._tokens = _Lengths()
        self._langs: Counter[str] = Counter()
        self._rng = random.Random(0)

    def add(self, canonical_line: bytes, texts: list[str]) -> None:
        self.records += 1
        key = hashlib.blake2b(canonical_line, digest_size=12).digest()
        if key in self._seen:
            self.duplicates += 1
        else:
            self._seen.add(key)
        joined = "\n".join(texts)
        self._chars.add(len(joined), self._rng)
        if self.token_counter is not None:
            self._tokens.add(self.token_counter(joined), self._rng)
        self._langs[script_of(joined)] += 1

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
