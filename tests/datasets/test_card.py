"""Dataset cards merge exactly: the cards of parts, merged in order, are the card of the whole."""

from __future__ import annotations

import pytest

from lmops_core.datasets.card import CardBuilder
from lmops_core.datasets.ingest import canonical_json


def _texts(n: int) -> list[str]:
    # More than 10,000 records, lengths spread widely, some repeated, two scripts.
    return [("答" * (i % 37)) if i % 9 == 0 else "w" * (1 + (i * 7919) % 611) for i in range(n)]


def _card(texts: list[str]) -> CardBuilder:
    card = CardBuilder("text", token_counter=lambda t: len(t) // 4)
    for text in texts:
        card.add(canonical_json({"text": text}), [text])
    return card


def test_merged_cards_equal_the_card_of_all_records() -> None:
    texts = _texts(12_000)
    whole = _card(texts)
    merged = _card(texts[:5_000])
    for part in (texts[5_000:5_001], texts[5_001:9_000], texts[9_000:]):
        merged.merge(_card(part))
    assert whole.duplicates > 0 and whole.metrics("d")["lang.zh"] > 0
    assert merged.metrics("d") == whole.metrics("d")
    assert merged.details() == whole.details()
    # The quantiles are exact: the 95th-percentile length is the sorted lengths' own.
    lengths = sorted(len(t) for t in texts)
    assert whole.details()["chars"]["p95"] == lengths[int(len(lengths) * 0.95)]


def test_cards_of_different_shapes_do_not_merge() -> None:
    with pytest.raises(ValueError, match="cannot merge a dialogue card into a text card"):
        CardBuilder("text").merge(CardBuilder("dialogue"))
