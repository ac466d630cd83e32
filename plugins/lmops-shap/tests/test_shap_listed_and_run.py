"""lmops-shap is listed by `lmops plugins` and its operation runs through the runner."""

from __future__ import annotations

from pathlib import Path

from lmops_core.testing import Governed, listed_plugins, write_jsonl


def test_listed_by_lmops_plugins(tmp_path: Path) -> None:
    assert listed_plugins(tmp_path / "home")["lmops-shap"]["operations"] == ["explainability:shap"]


def test_operations_run_through_the_runner(
    workspace: Governed, tiny_model: Path, tmp_path: Path
) -> None:
    # The prompts come from a dialogue dataset version, read through context.records.
    dialogue = {
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Why is the sky blue?"},
            {"role": "assistant", "content": "Scattering."},
        ]
    }
    eng = workspace.as_user("eng", "submitter")
    inputs = {
        "model": eng.register_model("tiny", tiny_model).ref,
        "dataset": eng.register_dataset(
            "chats", write_jsonl(tmp_path / "chats.jsonl", [dialogue]), shape="dialogue"
        ).ref,
    }
    eng.run_stage(
        "explainability",
        "shap",
        inputs=inputs,
        seed=0,
        params={"max_evals": 16, "max_new_tokens": 2, "top_k": 2, "threads": 1},
    )
    [evidence] = eng.evidence(inputs["model"], kind="explanation")
    assert evidence.metrics["prompts"] == 1
    assert evidence.details["prompts"][0]["prompt_redacted"] == "Why is the sky blue?"
