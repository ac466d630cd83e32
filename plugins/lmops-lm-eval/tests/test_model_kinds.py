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
def base_eval(make_context: Any, model_input: Any, tiny_model: Path,
              tmp_path_factory: pytest.TempPathFactory) -> Any:
    ctx = make_context(tmp_path_factory.mktemp("base"), {"model": model_input(tiny_model)},
                       PARAMS, "lm-eval")
    return LmEvalEvaluator().run(ctx).evidence[0]


def test_adapter_with_its_base(make_context: Any, model_input: Any, tiny_model: Path,
                               tmp_path: Path, base_eval: Any) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    lora = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                      init_lora_weights=False)  # random B: the adapter really changes outputs
    adapter_dir = tmp_path / "adapter"
    get_peft_model(model, lora).save_pretrained(adapter_dir, safe_serialization=True)
    ctx = make_context(tmp_path / "wd", {"model": model_input(adapter_dir, kind="adapter"),
                                         "base": model_input(tiny_model, role="base")},
                       PARAMS, "lm-eval")
    (ev,) = LmEvalEvaluator().run(ctx).evidence
    assert ev.details["model_kind"] == "adapter" and ev.metrics["samples"] == 10
    assert _first_loglikelihoods(ev) != _first_loglikelihoods(base_eval)


def _export_input_ids_only(model_dir: Path, folder: Path) -> None:
    """torch.onnx.export of ``input_ids -> logits`` with lmops-onnx's manifest written beside it.

    (lmops-onnx's own exporter runs torch.export and takes 15-50 s on a busy machine; its
    runtime only needs a logits graph and the manifest, which lmops-onnx's
    ``write_manifest`` writes.)
    """
    import shutil

    import torch
    from lmops_onnx.export import MANIFEST_FORMAT, write_manifest
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder.mkdir(parents=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = model

        def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
            # An explicit all-ones mask keeps the traced graph free of aten::diff.
            mask = torch.ones_like(input_ids)
            return self.m(input_ids=input_ids, attention_mask=mask, use_cache=False).logits

    axes = {0: "batch", 1: "sequence"}
    torch.onnx.export(Logits(), (torch.randint(0, 100, (2, 7)),), str(folder / "model.onnx"),
                      dynamo=False, input_names=["input_ids"], output_names=["logits"],
                      dynamic_axes={"input_ids": axes, "logits": axes})
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(folder)
    shutil.copy(model_dir / "config.json", folder / "config.json")
    vocab = int(model.config.vocab_size)
    write_manifest(folder, {
        "format": MANIFEST_FORMAT, "model_file": "model.onnx",
        "inputs": [{"name": "input_ids", "dtype": "int64", "shape": ["batch", "sequence"]}],
        "outputs": [{"name": "logits", "dtype": "float32",
                     "shape": ["batch", "sequence", vocab]}],
        "vocab_size": vocab, "max_positions": int(model.config.max_position_embeddings),
        "kv_cache": False, "precision": "fp32",
    })


def test_lmops_onnx_runtime_evaluates_its_folders(
    make_context: Any, model_input: Any, tiny_model: Path, tmp_path: Path, base_eval: Any
) -> None:
    folder = tmp_path / "onnx"
    _export_input_ids_only(tiny_model, folder)
    ctx = make_context(tmp_path / "wd", {"model": model_input(folder, kind="onnx")}, PARAMS,
                       "lm-eval")
    (ev,) = LmEvalEvaluator().run(ctx).evidence
    assert ev.details["loader"] == "lmops_onnx.runtime.OrtCausalLM"
    assert ev.details["runtime"] == "onnxruntime"
    assert _first_loglikelihoods(ev) == pytest.approx(_first_loglikelihoods(base_eval), abs=1e-4)
    for task in PARAMS["tasks"]:
        assert ev.metrics[f"{task}.acc"] == base_eval.metrics[f"{task}.acc"]


def test_pickle_weights_are_refused(make_context: Any, model_input: Any, tiny_model: Path,
                                    tmp_path: Path) -> None:
    import shutil

    import torch

    from lmops_core.errors import UnsafeContentError

    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model, folder)
    torch.save({"w": torch.zeros(2)}, folder / "weights.ckpt")  # zip of pickles, odd name
    ctx = make_context(tmp_path / "wd", {"model": model_input(folder)}, PARAMS, "lm-eval")
    with pytest.raises(UnsafeContentError, match="weights.ckpt"):
        LmEvalEvaluator().run(ctx)
