"""Adapters (with their base) and lmops-onnx exports go through the same evaluator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lmops_lm_eval.lm_eval_op import LmEvalEvaluator

PARAMS = {"tasks": ["lmops_facts_mc_en", "lmops_facts_mc_zh"], "limit": 5}


def _first_loglikelihoods(ev: Any) -> list[float]:
    row = json.loads(ev.artifacts["samples.jsonl"].read_text(encoding="utf-8").splitlines()[0])
    return [r[0][0] for r in row["resps"]]


@pytest.fixture(scope="module")
def base_eval(
    make_context: Any, model_input: Any, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    ctx = make_context(
        tmp_path_factory.mktemp("base"), {"model": model_input(tiny_model)}, PARAMS, "lm-eval"
    )
    return LmEvalEvaluator().run(ctx).evidence[0]


def test_adapter_with_its_base(
    make_context: Any,
    model_input: Any,
    tiny_model: Path,
    tiny_models: Any,
    tmp_path: Path,
    base_eval: Any,
) -> None:
    # the kit's adapter has random, non-zero LoRA weights: it really changes outputs
    ctx = make_context(
        tmp_path / "wd",
        {
            "model": model_input(tiny_models("adapter"), "adapter"),
            "base": model_input(tiny_model, role="base"),
        },
        PARAMS,
        "lm-eval",
    )
    (ev,) = LmEvalEvaluator().run(ctx).evidence
    assert ev.details["model_kind"] == "adapter" and ev.metrics["samples"] == 10
    assert _first_loglikelihoods(ev) != _first_loglikelihoods(base_eval)


def test_lmops_onnx_runtime_evaluates_its_folders(
    make_context: Any, model_input: Any, tiny_onnx: Path, tmp_path: Path, base_eval: Any
) -> None:
    ctx = make_context(
        tmp_path / "wd", {"model": model_input(tiny_onnx, kind="onnx")}, PARAMS, "lm-eval"
    )
    (ev,) = LmEvalEvaluator().run(ctx).evidence
    assert ev.details["loader"] == "lmops_onnx.runtime.OrtCausalLM"
    assert ev.details["runtime"] == "onnxruntime"
    assert _first_loglikelihoods(ev) == pytest.approx(_first_loglikelihoods(base_eval), abs=1e-4)
    for task in PARAMS["tasks"]:
        assert ev.metrics[f"{task}.acc"] == base_eval.metrics[f"{task}.acc"]


def test_pickle_weights_are_refused(
    make_context: Any, model_input: Any, tiny_model: Path, tmp_path: Path
) -> None:
    import shutil

    import torch

    from lmops_core.errors import UnsafeContentError

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model, folder)
    torch.save({"w": torch.zeros(2)}, folder / "weights.ckpt")  # zip of pickles, odd name
    ctx = make_context(tmp_path / "wd", {"model": model_input(folder)}, PARAMS, "lm-eval")
    with pytest.raises(UnsafeContentError, match="weights.ckpt"):
        LmEvalEvaluator().run(ctx)
