"""A judge rates a model's answers given through a prompt version: ratings about the pair."""

from __future__ import annotations

from pathlib import Path

from lmops_core.testing import Governed


def test_judge_ratings_of_a_prompt_are_paired_with_the_model(
    workspace: Governed, tiny_model: Path, tmp_path: Path
) -> None:
    eng = workspace.as_user("eng", "submitter")
    model = eng.register_model("tiny", tiny_model).ref
    judge = eng.register_model("judge", tiny_model).ref
    prompt = eng.create_prompt("short", "Answer in one word: {q}", target_model=model).ref
    questions = ["What is 3 + 4?", "Name a colour."]
    eng.run_stage(
        "evaluation",
        "judge",
        inputs={"model": model, "judge": judge, "prompt": prompt},
        params={"prompts": questions, "max_new_tokens": 4},
        seed=0,
    )
    [ratings] = eng.evidence(prompt, kind="ratings")
    assert ratings.paired == model and ratings.metrics["scored"] == 2
    assert ratings.details["prompt"]["ref"] == prompt
    assert eng.evidence(model, kind="ratings") == []
    samples = eng.artifacts.export_file(
        ratings.artifacts["judge_samples.jsonl"], tmp_path / "samples.jsonl"
    ).read_text()
    assert "What is 3 + 4?" in samples  # the judge saw the bare question
