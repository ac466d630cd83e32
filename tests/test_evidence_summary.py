"""The headline of an evidence record: a few scalar metrics, in recorded order."""

from __future__ import annotations

from lmops_core.evidence_summary import MAX_HEADLINE, summarize_metrics


def test_scalars_in_recorded_order() -> None:
    metrics = {"acc": 0.91, "passed": True, "n": 40, "task": "arith", "none": None,
               "per_task": {"a": 1.0}, "scores": [1, 2]}
    assert summarize_metrics("eval", metrics) == {"acc": 0.91, "passed": True, "n": 40,
                                                  "task": "arith"}


def test_at_most_six() -> None:
    metrics = {f"m{i}": i for i in range(10)}
    headline = summarize_metrics("eval", metrics)
    assert MAX_HEADLINE == 6
    assert list(headline) == ["m0", "m1", "m2", "m3", "m4", "m5"]


def test_nothing_scalar_gives_an_empty_headline() -> None:
    assert summarize_metrics("drift", {"columns": {"a": 0.1}}) == {}
    assert summarize_metrics("drift", {}) == {}
