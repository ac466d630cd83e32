"""Seeded, category-stratified samples of banks and corpora, reproducible from the seed.

The draw is lmops' own sample-review draw (:func:`lmops_core.annotation.sampling.sample_indices`):
each category gets a share proportional to its size (largest remainder), drawn with
``random.Random(seed)``; the same bank and seed always give the same items.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lmops_core.annotation.sampling import sample_indices
from lmops_safety.banks import BankItem


def sample_items(items: Sequence[BankItem], size: int, seed: int) -> list[BankItem]:
    """``size`` items (all when fewer), stratified by category, in bank order."""
    if not items:
        return []
    rows = [{"category": item.category} for item in items]
    return [items[i] for i in sample_indices(rows, size=size, seed=seed, stratify="category")]


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def record_text(record: Mapping[str, Any], fields: Sequence[str] | None) -> str:
    """The text of a corpus record that is checked: ``fields`` (default: every string in it)."""
    if fields:
        return "\n".join(s for name in fields for s in _strings(record.get(name)))
    return "\n".join(_strings(dict(record)))


def sample_records(
    records: Sequence[Mapping[str, Any]], size: int, seed: int, stratify: str | None
) -> list[int]:
    """Indices of ``size`` records (all when fewer), stratified by ``stratify`` when given."""
    if not records:
        return []
    return sample_indices(records, size=size, seed=seed, stratify=stratify)
