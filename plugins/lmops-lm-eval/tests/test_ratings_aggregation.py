"""Ratings files: loading, errors with line numbers, hand-computed aggregates, the operation."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from lmops_lm_eval.ratings import (
    Preference,
    load_ratings,
    preference_summary,
    score_summary,
    wilson_interval,
)
from lmops_lm_eval.ratings_op import HumanRatingsEvaluator

from lmops_core.errors import ValidationError
from lmops_core.testing import dataset_input


def test_wilson_interval_matches_hand_computation() -> None:
    # 8 of 10, z = 1.96: centre (0.8 + 0.19208) / 1.38416 = 0.71676,
    # half 1.96 * sqrt(0.016 + 0.0096040) / 1.38416 = 0.22656.
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    low, high = wilson_interval(0, 5)
    assert low == 0.0 and high == pytest.approx(0.4345, abs=1e-4)


def test_score_and_preference_summaries() -> None:
    s = score_summary([5, 4, 3, 4])
    assert s["score_mean"] == 4.0
    # sample variance (1 + 0 + 1 + 0) / 3 = 2/3; stderr sqrt(2/3 / 4)
    assert s["score_stderr"] == pytest.approx(math.sqrt(2 / 3 / 4))
    assert s["score_ci_low"] == pytest.approx(4.0 - 1.959964 * math.sqrt(1 / 6), abs=1e-5)
    prefs = (
        [Preference(str(i), "m1", "m2", "a") for i in range(6)]
        + [Preference("x", "m1", "m2", "b")] * 2
        + [Preference("y", "m1", "m2", "tie")] * 2
    )
    p = preference_summary(prefs)
    assert (p["wins"], p["losses"], p["ties"], p["comparisons"]) == (6, 2, 2, 10)
    assert p["win_rate"] == 0.7  # (6 + 2/2) / 10
    assert p["win_rate_ci_low"] == pytest.approx(0.3968, abs=1e-4)
    assert p["win_rate_ci_high"] == pytest.approx(0.8922, abs=1e-4)


def test_jsonl_and_csv_load_the_same(tmp_path: Path) -> None:
    rows = [
        {"sample_id": "1", "score": 4, "rater": "r1"},
        {"sample_id": "2", "score": "5", "rater": "r2", "comment": "great"},
        {"sample_id": "1", "a": "m@2", "b": "m@1", "winner": "A"},
    ]
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    csv_file = tmp_path / "r.csv"
    csv_file.write_text(
        "sample_id,score,rater,a,b,winner,comment\n1,4,r1,,,,\n2,5,r2,,,,great\n1,,,m@2,m@1,A,\n",
        encoding="utf-8",
    )
    for path in (jsonl, csv_file):
        r = load_ratings(path)
        assert [x.score for x in r.scores] == [4.0, 5.0]
        assert [(p.a, p.b, p.winner) for p in r.preferences] == [("m@2", "m@1", "a")]


@pytest.mark.parametrize(
    ("content", "suffix", "where"),
    [
        (
            '{"sample_id": "1", "score": 4}\n{"sample_id": "2", "score": 9}\n',
            ".jsonl",
            r'r\.jsonl:2: field "score": must be a number from 1 to 5',
        ),
        ('{"sample_id": "1", "score": 4}\n\n{not json}\n', ".jsonl", r"r\.jsonl:3: invalid JSON"),
        ('{"score": 4}\n', ".jsonl", r'r\.jsonl:1: field "sample_id": is missing'),
        (
            '{"sample_id": "1", "a": "x", "b": "y", "winner": "c"}\n',
            ".jsonl",
            r'r\.jsonl:1: field "winner": must be one of a, b, tie',
        ),
        (
            '{"sample_id": "1", "score": 3, "winner": "a"}\n',
            ".jsonl",
            r'r\.jsonl:1: field "winner": a row needs exactly one',
        ),
        ("sample_id,score\n1,3\n2,4\n3,high\n", ".csv", r'r\.csv:4: field "score"'),
        ("sample_id,a,b,winner\n1,x,,a\n", ".csv", r'r\.csv:2: field "b": is missing'),
    ],
)
def test_bad_lines_are_reported_with_file_line_and_field(
    tmp_path: Path, content: str, suffix: str, where: str
) -> None:
    path = tmp_path / f"r{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValidationError, match=where):
        load_ratings(path)


def test_ratings_operation_makes_evidence_without_personal_data(
    make_context: Any, model_input: Any, tiny_model: Path, tmp_path: Path
) -> None:
    path = tmp_path / "ratings.jsonl"
    path.write_text(
        "".join(
            json.dumps(r) + "\n"
            for r in [
                {
                    "sample_id": "1",
                    "score": 5,
                    "rater": "Alice Smith",
                    "comment": "mail alice@example.org",
                },
                {"sample_id": "2", "score": 3, "rater": "Bob Jones"},
                {
                    "sample_id": "1",
                    "a": "cand",
                    "b": "prod",
                    "winner": "tie",
                    "rater": "Alice Smith",
                },
            ]
        ),
        encoding="utf-8",
    )
    ratings = dataset_input(path, role="ratings", ref="dataset:ratings@1")
    ctx = make_context(
        tmp_path / "wd", {"model": model_input(tiny_model), "ratings": ratings}, {}, "ratings"
    )
    (ev,) = HumanRatingsEvaluator().run(ctx).evidence
    assert ev.kind == "ratings" and ev.metrics["source"] == "human"
    assert ev.metrics["score_mean"] == 4.0 and ev.metrics["scored"] == 2
    assert ev.metrics["win_rate"] == 0.5 and ev.metrics["comparisons"] == 1
    assert ev.details["raters"] == 2
    text = json.dumps([ev.metrics, ev.details])
    assert "Alice" not in text and "Smith" not in text and "example.org" not in text
    with pytest.raises(ValidationError, match='input role "ratings"'):
        HumanRatingsEvaluator().run(
            make_context(tmp_path / "wd", {"model": ctx.inputs["model"]}, {}, "ratings")
        )
    with pytest.raises(ValidationError, match="ratings_file"):  # a host path is no longer taken
        HumanRatingsEvaluator().run(
            make_context(tmp_path / "wd", ctx.inputs, {"ratings_file": str(path)}, "ratings")
        )
