"""The headline of an evidence record: declared headline metrics, else a few numeric ones."""

from __future__ import annotations

from lmops_core.evidence_summary import FALLBACK_METRICS, format_metrics, summarize_metrics


def test_undeclared_kinds_show_numeric_metrics_in_recorded_order() -> None:
    metrics = {
        "acc": 0.91,
        "passed": True,
        "n": 40,
        "task": "arith",
        "none": None,
        "per_task": {"a": 1.0},
        "scores": [1, 2],
    }
    assert summarize_metrics("eval", metrics) == {"acc": 0.91, "n": 40}


def test_at_most_the_fallback_count() -> None:
    headline = summarize_metrics("eval", {f"m{i}": i for i in range(10)})
    assert list(headline) == [f"m{i}" for i in range(FALLBACK_METRICS)]


def test_nothing_numeric_gives_an_empty_headline() -> None:
    assert summarize_metrics("drift", {"columns": {"a": 0.1}}) == {}
    assert format_metrics("drift", {}) == ""
