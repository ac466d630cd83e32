"""onnx-int8: dynamic and static quantization, straight from torch or from an export."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from lmops_onnx.operations import OUTPUT_ROLE, OnnxInt8
from lmops_onnx.runtime import OrtCausalLM, OrtGenerator

from lmops_core.contracts import StageContext, StageResult
from lmops_core.errors import ValidationError

PROMPTS = [
    "The river rises",
    "A model registry",
    "Reviewers read",
    "The market in",
    "She walked up",
    "Children learn",
    "The train to",
    "Quantization stores",
]


def test_dynamic_int8_output_and_operators(int8_result: StageResult, int8_dir: Path) -> None:
    [output] = int8_result.outputs
    assert (output.role, output.kind, output.format) == (OUTPUT_ROLE, "onnx-int8", "onnx")
    assert list(output.derived_from) == ["model"]
    manifest = json.loads((int8_dir / "lmops_onnx.json").read_text())
    assert manifest["precision"] == "int8"
    assert manifest["quantization"]["mode"] == "dynamic"
    assert (int8_dir / "tokenizer.json").is_file()
    metrics = int8_result.evidence[0].metrics
    assert metrics["ops_MatMulInteger"] >= 10
    assert metrics["ops_DynamicQuantizeLinear"] >= 1
    assert metrics["quantized_ops_total"] >= metrics["ops_MatMulInteger"]
    assert metrics["weights_quantized_fraction"] > 0.95
    assert int8_result.evidence[0].details["quantized_operators"]["MatMulInteger"] >= 10


def test_dynamic_int8_evidence_measures_the_trade_off(int8_result: StageResult) -> None:
    metrics = int8_result.evidence[0].metrics
    for name in ("latency_ratio_vs_ort_fp32", "perplexity_fp32", "perplexity_int8"):
        assert metrics[name] > 0, name
    # The source was already ONNX: no torch model to time.
    assert "latency_p50_ms_torch_fp32" not in metrics
    # Weights shrink roughly fourfold; the graph file and scales add a little.
    assert metrics["size_ratio"] < 0.4
    assert metrics["size_bytes_after"] < metrics["size_bytes_before"]
    assert abs(metrics["perplexity_increase_pct"]) < 2.0
    assert metrics["greedy_agreement"] >= 0.85
    # 0.54 measured on the kit's tiny model (vocabulary 1024) trained 60 steps (0.5 was the
    # bound for the smaller model this plugin used to build); agreement above is what matters.
    assert 0 < metrics["max_abs_logit_diff"] < 1.0
    assert all(isinstance(v, int | float | str | bool) for v in metrics.values())


def test_int8_greedy_generation_matches_fp32_on_most_tokens(onnx_dir: Path, int8_dir: Path) -> None:
    fp32, int8 = OrtCausalLM.from_folder(onnx_dir), OrtCausalLM.from_folder(int8_dir)
    tokenizer = OrtGenerator(onnx_dir).tokenizer
    same = total = first_same = 0
    for prompt in PROMPTS:
        ids = tokenizer(prompt)["input_ids"]
        a = list(fp32.generate_ids(ids, 12))
        b = list(int8.generate_ids(ids, 12))
        assert len(a) == len(b) == 12
        same += sum(x == y for x, y in zip(a, b, strict=True))
        first_same += a[0] == b[0]
        total += 12
    # A random-weight model has near-tied logits, so a late flip can derail a sequence:
    # the first token must nearly always agree, and most tokens overall.
    assert first_same >= len(PROMPTS) - 1
    assert same / total >= 0.6


def test_int8_from_adapter_merges_exports_and_times_torch(
    adapter_int8_result: StageResult, tiny_model: Path, adapter_dir: Path
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    [output] = adapter_int8_result.outputs
    assert list(output.derived_from) == ["model", "base"]
    metrics = adapter_int8_result.evidence[0].metrics
    for name in (
        "latency_p50_ms_torch_fp32",
        "latency_p95_ms_torch_fp32",
        "latency_ratio_vs_torch_fp32",
        "size_bytes_torch_fp32",
    ):
        assert metrics[name] > 0, name
    assert adapter_int8_result.metrics["export_seconds"] > 0

    base = AutoModelForCausalLM.from_pretrained(str(tiny_model)).eval()
    ids = np.random.default_rng(3).integers(0, base.config.vocab_size, (1, 9))
    with torch.inference_mode():
        base_logits = base(input_ids=torch.from_numpy(ids)).logits.numpy()
        merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload().eval()
        merged_logits = merged(input_ids=torch.from_numpy(ids)).logits.numpy()
    # The intermediate fp32 export is the merged model, not the bare base.
    fp32_dir = output.path.parent / "fp32-export"
    got = OrtCausalLM.from_folder(fp32_dir).logits(ids)
    np.testing.assert_allclose(got, merged_logits, atol=1e-4, rtol=0)
    assert np.abs(merged_logits - base_logits).max() > 1e-3


def test_static_int8_with_calibration(
    context_factory: Callable[..., StageContext], onnx_dir: Path, tmp_path: Path
) -> None:
    calibration = tmp_path / "calibration.jsonl"
    calibration.write_text(
        "".join(
            json.dumps({"prompt": p, "response": " and then it went on."}) + "\n" for p in PROMPTS
        )
    )
    ctx = context_factory(
        "onnx-int8",
        {
            "model": ("model", "onnx", onnx_dir),
            "calibration": ("dataset", "instruction", calibration),
        },
        {"mode": "static", "latency_repeats": 1, "calibration_records": 4},
    )
    result = OnnxInt8().run(ctx)
    [output] = result.outputs
    assert list(output.derived_from) == ["model", "calibration"]
    metrics = result.evidence[0].metrics
    assert metrics["ops_QuantizeLinear"] > 0 and metrics["ops_DequantizeLinear"] > 0
    assert "ops_MatMulInteger" not in metrics
    assert metrics["greedy_agreement"] >= 0.7
    quantization = json.loads((output.path / "lmops_onnx.json").read_text())["quantization"]
    assert quantization["mode"] == "static"
    assert quantization["format"] == "QDQ"
    assert quantization["calibration_records"] == 4


def test_invalid_mode_is_named(
    context_factory: Callable[..., StageContext], onnx_dir: Path
) -> None:
    with pytest.raises(
        ValidationError, match="parameter \"mode\": Input should be 'dynamic' or 'static'"
    ):
        context_factory("onnx-int8", {"model": ("model", "onnx", onnx_dir)}, {"mode": "fp16"})


def test_bad_heldout_line_is_named(
    context_factory: Callable[..., StageContext], onnx_dir: Path, tmp_path: Path
) -> None:
    heldout = tmp_path / "heldout.jsonl"
    heldout.write_text('{"text": "fine"}\n{"txt": "typo"}\n')
    ctx = context_factory(
        "onnx-int8", {"model": ("model", "onnx", onnx_dir), "heldout": ("dataset", "text", heldout)}
    )
    with pytest.raises(ValidationError, match=r'heldout.jsonl:2: field "text" must be a string'):
        OnnxInt8().run(ctx)
