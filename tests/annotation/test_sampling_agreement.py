"""Seeded, stratified samples; Cohen's and Fleiss' kappa; one answer from many votes."""

from __future__ import annotations

import pytest

from lmops_core.annotation.agreement import measure
from lmops_core.annotation.merge import annotated_record, decide
from lmops_core.annotation.sampling import sample_indices
from lmops_core.errors import ValidationError

RECORDS = [{"topic": "cards" if i < 20 else "billing", "n": i} for i in range(100)]


def test_a_sample_depends_only_on_its_seed() -> None:
    a = sample_indices(RECORDS, size=10, seed=5)
    assert a == sample_indices(RECORDS, size=10, seed=5) and len(set(a)) == 10
    assert a == sorted(a)
    assert a != sample_indices(RECORDS, size=10, seed=6)
    assert sample_indices(RECORDS[:3], size=10, seed=1) == [0, 1, 2]


def test_a_stratified_sample_keeps_the_proportions() -> None:
    picked = sample_indices(RECORDS, size=10, seed=1, stratify="topic")
    topics = [RECORDS[i]["topic"] for i in picked]
    assert (topics.count("cards"), topics.count("billing")) == (2, 8)
    # 3 of 100 at 1/5 cards: 0.6 and 2.4 -> the larger remainder (cards) gets the extra one.
    small = sample_indices(RECORDS, size=3, seed=1, stratify="topic")
    assert sorted(RECORDS[i]["topic"] for i in small) == ["billing", "billing", "cards"]


def test_stratifying_by_a_missing_field_names_the_line() -> None:
    with pytest.raises(ValidationError, match="line 1: lang: missing"):
        sample_indices(RECORDS, size=3, seed=1, stratify="lang")
    with pytest.raises(ValidationError, match="at least one record"):
        sample_indices(RECORDS, size=0, seed=1)


def test_cohen_kappa_for_two_annotators() -> None:
    # observed 3/4; chance 0.5*0.25 + 0.5*0.75 = 0.5; kappa = (0.75 - 0.5) / 0.5 = 0.5
    votes = [
        {"a": "x", "b": "x"},
        {"a": "x", "b": "y"},
        {"a": "y", "b": "y"},
        {"a": "y", "b": "y"},
        {"a": "x"},
    ]
    got = measure(votes)
    assert (got.method, got.items, got.kappa) == ("cohen", 4, 0.5)


def test_fleiss_kappa_for_more_annotators() -> None:
    # Three raters, four items: rows of counts (x, y) = (3,0) (0,3) (2,1) (1,2).
    # P_i = 1, 1, 1/3, 1/3 -> mean 2/3; p_x = p_y = 1/2 -> P_e = 1/2; kappa = 1/3.
    votes = [
        {"a": "x", "b": "x", "c": "x"},
        {"a": "y", "b": "y", "c": "y"},
        {"a": "x", "b": "x", "c": "y"},
        {"a": "x", "b": "y", "c": "y"},
        {"a": "x", "b": "y"},  # another number of answers: left out
    ]
    got = measure(votes)
    assert (got.method, got.items) == ("fleiss", 4)
    assert got.kappa == pytest.approx(1 / 3, abs=1e-6)


def test_undefined_agreement_is_absent() -> None:
    assert measure([{"a": "x"}]).kappa is None
    same = measure([{"a": "x", "b": "x"}, {"a": "x", "b": "x"}])
    assert same.kappa is None and "undefined" in same.note
    apart = measure([{"a": "x"}, {"b": "y"}])
    assert apart.kappa is None and apart.items == 0


def test_one_answer_per_record() -> None:
    assert decide("labels", {"a": "x", "b": "x", "c": "y"}) == "x"
    assert decide("labels", {"a": "x", "b": "y"}) is None
    assert decide("rating", {"a": 4.0, "b": 5.0}) == 4.5
    assert decide("preference", {}) is None
    pair = annotated_record(
        {"prompt": "q", "system": "s", "a": "A", "b": "B"},
        "right",
        kind="preference",
        field="",
        candidates=("a", "b"),
    )
    assert pair == {"prompt": "q", "chosen": "B", "rejected": "A", "system": "s"}
    assert annotated_record(
        {"text": "t"}, "x", kind="labels", field="label", candidates=("a", "b")
    ) == {"text": "t", "label": "x"}
