"""Samples of a bank: reproducible from the seed, stratified by category."""

from __future__ import annotations

from collections import Counter

from lmops_safety.banks import BankItem
from lmops_safety.compliance_sampling import record_text, sample_items, sample_records

BANK = [BankItem(f"q-{i:04d}", ("values", "rights", "commercial")[i % 3], "?") for i in range(900)]


def test_the_same_seed_draws_the_same_items_and_another_seed_others() -> None:
    first = [item.id for item in sample_items(BANK, 300, seed=11)]
    assert first == [item.id for item in sample_items(BANK, 300, seed=11)]
    assert first != [item.id for item in sample_items(BANK, 300, seed=12)]
    assert len(set(first)) == 300


def test_each_category_gets_its_share() -> None:
    skewed = BANK[:600] + [BankItem(f"x-{i}", "general", "?") for i in range(400)]
    counts = Counter(item.category for item in sample_items(skewed, 100, seed=0))
    assert counts == {"values": 20, "rights": 20, "commercial": 20, "general": 40}


def test_a_sample_larger_than_the_bank_takes_it_all_in_bank_order() -> None:
    assert sample_items(BANK[:5], 300, seed=3) == BANK[:5]
    assert sample_items([], 300, seed=3) == []


def test_corpus_records_are_sampled_by_index_and_read_as_text() -> None:
    records = [{"prompt": f"p{i}", "response": f"r{i}", "topic": f"t{i % 2}"} for i in range(50)]
    picked = sample_records(records, 10, seed=5, stratify="topic")
    assert picked == sample_records(records, 10, seed=5, stratify="topic") and len(picked) == 10
    assert Counter(records[i]["topic"] for i in picked) == {"t0": 5, "t1": 5}
    assert record_text(records[0], None) == "p0\nr0\nt0"
    assert record_text(records[0], ["response"]) == "r0"
