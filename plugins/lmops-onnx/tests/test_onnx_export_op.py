"""onnx-export on a tiny Llama: files written, logits equal to torch, evidence complete."""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from lmops_onnx.operations import OUTPUT_ROLE, OnnxExport
from lmops_onnx.runtime import OrtCausalLM

from lmops_core.contracts import StageContext, StageResult
from lmops_core.errors import UnsafeContentError, ValidationError


def test_export_writes_a_complete_onnx_folder(export_result: StageResult, onnx_dir: Path) -> None:
    [output] = export_result.outputs
    assert output.role == OUTPUT_ROLE
    assert output.kind == "onnx"
    assert output.asset_type == "model"
    assert list(output.derived_from) == ["model"]
    assert onnx_dir.parent.name.startswith("work")  # written in the run's working folder
    for name in (
        "model.onnx",
        "model.onnx.data",
        "tokenizer.json",
        "tokenizer_config.json",
        "config.json",
        "lmops_onnx.json",
    ):
        assert (onnx_dir / name).is_file(), name
    manifest = json.loads((onnx_dir / "lmops_onnx.json").read_text())
    assert manifest["inputs"][0]["name"] == "input_ids"
    assert manifest["outputs"][0]["name"] == "logits"
    assert manifest["precision"] == "fp32"
    assert manifest["kv_cache"] is False
    # The exporter's stack traces name local files: they must not ship in the artifact.
    assert b"stack_trace" not in (onnx_dir / "model.onnx").read_bytes()


@pytest.mark.parametrize("shape", [(1, 1), (2, 11), (3, 40)])
def test_ort_logits_match_torch(
    onnx_dir: Path, tiny_model_dir: Path, shape: tuple[int, int]
) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    ids = np.random.default_rng(sum(shape)).integers(0, model.config.vocab_size, shape)
    with torch.inference_mode():
        expected = model(input_ids=torch.from_numpy(ids), use_cache=False).logits.numpy()
    got = OrtCausalLM.from_folder(onnx_dir).logits(ids)
    assert got.shape == (*shape, model.config.vocab_size)
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)


def test_export_evidence_shows_no_loss(export_result: StageResult) -> None:
    [evidence] = export_result.evidence
    metrics = evidence.metrics
    assert metrics["max_abs_logit_diff"] < 1e-4
    assert abs(metrics["perplexity_increase_pct"]) < 0.01
    assert metrics["greedy_agreement"] == 1.0
    assert metrics["eval_tokens"] > 50
    assert metrics["quantized_ops_total"] == 0
    assert evidence.details["heldout"]["source"] == "test/heldout@1"
    assert export_result.metrics["export_seconds"] > 0


def test_unknown_parameter_is_named(
    context_factory: Callable[..., StageContext], tiny_model_dir: Path
) -> None:
    with pytest.raises(ValidationError, match='unknown parameter "opste"') as caught:
        context_factory("onnx-export", {"model": ("model", "base", tiny_model_dir)}, {"opste": 18})
    assert caught.value.details == {"param": "opste"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"opset": 9}, 'parameter "opset": Input should be greater than or equal to 18'),
        ({"latency_repeats": "5"}, 'parameter "latency_repeats": Input should be a valid integer'),
        ({"threads": True}, 'parameter "threads": Input should be a valid integer'),
    ],
)
def test_invalid_parameter_is_named(
    context_factory: Callable[..., StageContext],
    tiny_model_dir: Path,
    params: dict[str, object],
    message: str,
) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        context_factory("onnx-export", {"model": ("model", "base", tiny_model_dir)}, params)
    assert caught.value.details == {"param": next(iter(params))}


def test_pickle_weights_are_refused(
    context_factory: Callable[..., StageContext], tiny_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": [1.0, 2.0]}))
    ctx = context_factory("onnx-export", {"model": ("model", "base", folder)})
    with pytest.raises(UnsafeContentError, match="pytorch_model.bin"):
        OnnxExport().run(ctx)
