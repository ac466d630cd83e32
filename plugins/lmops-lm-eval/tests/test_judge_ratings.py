"""LLM-as-judge ratings with a judge model given as a registered model version."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lmops_lm_eval.judge import JudgeEvaluator, parse_score, yes_no_score
from lmops_lm_eval.models import LoadedModel


def test_parse_score() -> None:
    assert parse_score(" 4 - good") == 4
    assert parse_score("Score: 7 then 2") == 2  # 7 is out of range
    assert parse_score("excellent") is None


def test_yes_no_fallback_is_a_probability(torch_and_onnx: tuple[LoadedModel, LoadedModel]) -> None:
    judge, ort_judge = torch_and_onnx
    score, p_yes = yes_no_score(judge, "What is 3 + 4?", "7")
    assert 0.0 < p_yes < 1.0 and score == pytest.approx(1 + 4 * p_yes)
    # The same judge exported to ONNX gives the same probability.
    assert yes_no_score(ort_judge, "What is 3 + 4?", "7")[1] == pytest.approx(p_yes, abs=1e-4)


def test_judge_operation_makes_ratings_evidence(
    make_context: Any, model_input: Any, tiny_model: Path, tiny_onnx: Path, tmp_path: Path
) -> None:
    prompts = ["What is 3 + 4?", "法国的首都是哪里？", "Name a colour."]
    ctx = make_context(
        tmp_path,
        {"model": model_input(tiny_model), "judge": model_input(tiny_onnx, "onnx", "judge")},
        {"prompts": prompts, "max_new_tokens": 6},
        "judge",
    )
    (ev,) = JudgeEvaluator().run(ctx).evidence
    assert ev.kind == "ratings" and ev.metrics["source"] == "judge"
    assert ev.metrics["scored"] == 3 and ev.metrics["parsed"] + ev.metrics["fallback"] == 3
    assert 1.0 <= ev.metrics["score_mean"] <= 5.0
    assert ev.metrics["score_ci_low"] <= ev.metrics["score_mean"] <= ev.metrics["score_ci_high"]
    rows = [json.loads(x) for x in ev.artifacts["judge_samples.jsonl"].read_text().splitlines()]
    assert [r["prompt"] for r in rows] == prompts
    assert sum(r["score"] for r in rows) / 3 == pytest.approx(ev.metrics["score_mean"])
    assert ev.details["judge"]["runtime"] == "onnxruntime"
