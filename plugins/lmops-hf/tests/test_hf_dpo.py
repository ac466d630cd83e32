"""The "dpo" operation (trl's DPOTrainer) on the tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from lmops_hf.dpo import DpoTrainer
from safetensors.torch import load_file

from lmops_core.errors import StageError, ValidationError

PARAMS = {"max_steps": 6, "batch_size": 4, "learning_rate": 1e-2, "checkpoint_every": 3}


def test_dpo_moves_the_preference_margin_and_resumes_exactly(
    tiny_model, small_preferences, make_context, recording_progress
) -> None:
    ctx = make_context(
        "dpo", tiny_model, small_preferences, "preference", PARAMS, progress=recording_progress
    )
    result = DpoTrainer().run(ctx)
    m = result.metrics
    assert m["margin_after"] > m["margin_before"] + 0.1
    assert m["preference_accuracy_after"] >= m["preference_accuracy_before"]
    assert len(result.series["loss"]) == 6
    assert result.series["loss"][0] == pytest.approx(0.6931, abs=1e-3)  # log 2 at the start
    assert result.series["loss"][-1] < result.series["loss"][0]
    (adapter,) = result.outputs
    assert (adapter.kind, list(adapter.derived_from)) == ("adapter", ["base", "dataset"])
    assert adapter.metadata["objective"] == "dpo"
    assert result.info["dpo_implementation"] == "trl.DPOTrainer"
    assert "trl" in result.info["libraries"]
    assert result.evidence[0].kind == "training"
    assert result.evidence[0].metrics["margin_after"] == m["margin_after"]
    assert recording_progress.started == [("training", 6)]

    first = make_context(
        "dpo", tiny_model, small_preferences, "preference", {**PARAMS, "max_steps_this_session": 3}
    )
    with pytest.raises(StageError, match="stopped after step 3") as stopped:
        DpoTrainer().run(first)
    resumed = DpoTrainer().run(
        make_context(
            "dpo",
            tiny_model,
            small_preferences,
            "preference",
            {**PARAMS, "resume_from": str(Path(stopped.value.details["checkpoint"]))},
        )
    )
    a = load_file(adapter.path / "adapter_model.safetensors")
    b = load_file(resumed.outputs[0].path / "adapter_model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_dpo_refuses_a_non_preference_dataset(tiny_model, small_instructions, make_context) -> None:
    with pytest.raises(ValidationError, match="must be a preference dataset"):
        DpoTrainer().run(make_context("dpo", tiny_model, small_instructions, "instruction"))
    with pytest.raises(ValidationError, match='parameter "beta"'):
        DpoTrainer().run(
            make_context("dpo", tiny_model, small_instructions, "preference", {"beta": -1.0})
        )
