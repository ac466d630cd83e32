"""lmops-lm-eval is listed by `lmops plugins` and its operations run through the runner."""

from __future__ import annotations

from pathlib import Path

from lmops_core.testing import Governed, listed_plugins, write_jsonl

OPERATIONS = [
    "evaluation:judge",
    "evaluation:lm-eval",
    "evaluation:ratings",
    "evaluation:serving-perf",
]


def test_listed_by_lmops_plugins(tmp_path: Path) -> None:
    assert sorted(listed_plugins(tmp_path / "home")["lmops-lm-eval"]["operations"]) == OPERATIONS


def test_operations_run_through_the_runner(
    workspace: Governed, tiny_model: Path, tmp_path: Path
) -> None:
    eng = workspace.as_user("eng", "submitter")
    model = eng.register_model("tiny", tiny_model).ref
    runs = {
        "lm-eval": ({"model": model}, {"tasks": ["lmops_facts_mc_en"], "limit": 2}),
        "serving-perf": (
            {"model": model},
            {"prompts": ["Hello"], "requests": 1, "max_new_tokens": 2, "warmup": 0},
        ),
        "judge": (
            {"model": model, "judge": model},
            {"prompts": ["What is 2 + 2?"], "max_new_tokens": 2, "judge_max_new_tokens": 2},
        ),
    }
    for operation, (inputs, params) in runs.items():
        eng.run_stage("evaluation", operation, inputs=inputs, params=params, seed=0)
    ratings = write_jsonl(
        tmp_path / "ratings.jsonl", [{"sample_id": "1", "score": 4, "rater": "r1", "text": "ok"}]
    )
    data = eng.register_dataset("ratings", ratings, shape="text").ref
    eng.run_stage("evaluation", "ratings", inputs={"model": model, "ratings": data})
    kinds = sorted(e.kind for e in eng.evidence(model))
    assert kinds == ["eval", "ratings", "ratings", "serving_perf"]
