"""The two compressors: ``onnx-export`` and ``onnx-int8``.

Both read the role ``"model"`` (plus ``"base"`` for an adapter), write one
model folder under the working directory, and measure what they did in the
same run: the output carries ``compression`` evidence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lmops_core.contracts import (
    EvidenceRecord,
    InputAsset,
    OutputAsset,
    StageContext,
    StageResult,
)
from lmops_core.errors import StageError, ValidationError
from lmops_core.kit import BaseOperation
from lmops_core.runtimes import torch_threads
from lmops_onnx.evidence import COMPRESSION_EVIDENCE
from lmops_onnx.export import (
    ADAPTER_KIND,
    TORCH_KINDS,
    LoadedModel,
    export_onnx,
    load_causal_lm,
    load_tokenizer,
)
from lmops_onnx.measure import (
    LogitsFn,
    QualityComparison,
    compare_quality,
    onnx_weight_bytes,
    percentile,
    time_engines,
    torch_weight_bytes,
)
from lmops_onnx.params import ExportParams, Int8Params
from lmops_onnx.quantize import (
    QUANTIZATION_OP_TYPES,
    op_histogram,
    quantize_folder,
    resolve_reduce_range,
    weight_stats,
)
from lmops_onnx.runtime import OrtCausalLM
from lmops_onnx.safety import check_onnx_folder
from lmops_onnx.texts import builtin_heldout_texts, builtin_prompts, read_dataset_texts

OUTPUT_ROLE = "compressed"
"""Role of the model folder each compressor returns (the evidence's subject)."""

ONNX_KIND = "onnx"
INT8_KIND = "onnx-int8"


def _model_input(context: StageContext) -> InputAsset:
    model = context.input("model")
    if model.asset_type != "model" or model.path is None:
        raise StageError(
            f'operation "{context.operation}": role "model" must be a model version '
            f"materialised as a folder (got {model.asset_type} {model.ref})"
        )
    return model


def _load_torch_source(context: StageContext, model: InputAsset) -> tuple[LoadedModel, list[str]]:
    """The torch model behind ``model``, and the roles it was made from."""
    assert model.path is not None
    if model.kind == ADAPTER_KIND:
        base = context.input("base")
        if base.path is None:
            raise StageError(f'role "base" ({base.ref}) has no local folder')
        return load_causal_lm(model.path, kind=model.kind, base_dir=base.path), ["model", "base"]
    return load_causal_lm(model.path, kind=model.kind), ["model"]


def _torch_logits_fn(loaded: LoadedModel) -> LogitsFn:
    import torch

    def run(ids: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = loaded.model(input_ids=torch.from_numpy(ids), use_cache=False).logits
        result: np.ndarray = out.float().numpy()
        return result

    return run


@dataclass(frozen=True)
class _EvalTexts:
    sequences: list[list[int]]
    prompts: list[np.ndarray]
    source: str


def _heldout_texts(context: StageContext, params: Mapping[str, Any]) -> tuple[list[str], str]:
    """The held-out texts and where they came from; read early so bad data fails fast."""
    heldout = context.inputs.get("heldout")
    if heldout is None:
        return builtin_heldout_texts()[: params["max_eval_records"]], "builtin:heldout.txt"
    if heldout.asset_type != "dataset" or heldout.path is None:
        raise StageError(f'role "heldout" must be a dataset version (got {heldout.ref})')
    texts = read_dataset_texts(heldout.path, heldout.kind, limit=params["max_eval_records"])
    return texts, heldout.ref


def _eval_texts(
    heldout: tuple[list[str], str], folder: Path, params: Mapping[str, Any], window: int | None
) -> _EvalTexts:
    """Tokenized held-out sequences and latency prompts, with the output's own tokenizer."""
    tokenizer = load_tokenizer(folder)
    texts, source = heldout
    limit = params["max_eval_tokens"] if window is None else min(params["max_eval_tokens"], window)
    sequences = [ids[:limit] for ids in (tokenizer(t)["input_ids"] for t in texts)]
    sequences = [list(map(int, s)) for s in sequences if len(s) >= 2]
    if not sequences:
        raise ValidationError(f"{source}: no record encodes to two or more tokens")
    prompts = [
        np.asarray([tokenizer(p)["input_ids"][:limit]], dtype=np.int64) for p in builtin_prompts()
    ]
    return _EvalTexts(sequences=sequences, prompts=prompts, source=source)


def _latency_metrics(times: Mapping[str, list[float]]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for name, values in times.items():
        metrics[f"latency_p50_ms_{name}"] = round(percentile(values, 50), 4)
        metrics[f"latency_p95_ms_{name}"] = round(percentile(values, 95), 4)
    return metrics


def _common_metrics(
    *,
    size_before: int,
    size_after: int,
    latency_before: str,
    latency_after: str,
    latency: Mapping[str, float],
    quality: QualityComparison,
    quantized_ops: int,
) -> dict[str, Any]:
    p50_before = latency[f"latency_p50_ms_{latency_before}"]
    p50_after = latency[f"latency_p50_ms_{latency_after}"]
    return {
        "size_bytes_before": size_before,
        "size_bytes_after": size_after,
        "size_ratio": round(size_after / size_before, 6),
        "latency_p50_ms_before": p50_before,
        "latency_p95_ms_before": latency[f"latency_p95_ms_{latency_before}"],
        "latency_p50_ms_after": p50_after,
        "latency_p95_ms_after": latency[f"latency_p95_ms_{latency_after}"],
        "latency_ratio": round(p50_after / p50_before, 6),
        "perplexity_before": round(quality.perplexity_reference, 6),
        "perplexity_after": round(quality.perplexity_candidate, 6),
        "perplexity_increase_pct": round(quality.perplexity_increase_pct, 6),
        "greedy_agreement": round(quality.greedy_agreement, 6),
        "max_abs_logit_diff": quality.max_abs_logit_diff,
        "quantized_ops_total": quantized_ops,
        "eval_tokens": quality.tokens,
    }


def _library_versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch
    import transformers

    return {
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def _measured_on(
    texts: _EvalTexts, quality: QualityComparison, params: Mapping[str, Any], **latency: Any
) -> dict[str, Any]:
    """The evidence details saying what quality and latency were measured on."""
    return {
        "heldout": {
            "source": texts.source,
            "sequences": quality.sequences,
            "tokens": quality.tokens,
        },
        "latency": {
            "prompts": len(texts.prompts),
            "repeats": params["latency_repeats"],
            "threads": params["threads"],
            "batch_size": 1,
            **latency,
        },
    }


def _onnx_output(path: Path, kind: str, derived: list[str], **metadata: Any) -> OutputAsset:
    return OutputAsset(
        role=OUTPUT_ROLE,
        asset_type="model",
        path=path,
        kind=kind,
        derived_from=derived,
        format="onnx",
        metadata=metadata,
    )


def _compression_result(
    output: OutputAsset,
    metrics: dict[str, Any],
    details: dict[str, Any],
    run_metrics: dict[str, float],
    params: dict[str, Any],
) -> StageResult:
    """The new ONNX version with its ``compression`` evidence (the version's own record)."""
    evidence = EvidenceRecord(
        kind=COMPRESSION_EVIDENCE.name, subject=OUTPUT_ROLE, metrics=metrics, details=details
    )
    return StageResult(
        outputs=[output],
        evidence=[evidence],
        metrics=run_metrics,
        params=params,
        info={"versions": details["versions"]},
    )


class OnnxExport(BaseOperation[ExportParams]):
    """Export a model version to ONNX (input_ids -> logits, dynamic batch and sequence) with
    torch.onnx.export; adapters are merged into their base first. Measures size, latency and
    logit agreement of ONNX Runtime against torch.

    Export a Hugging Face causal LM (or base + LoRA adapter, merged) to ONNX.
    """

    name = "onnx-export"
    input_roles = {"model": "model", "base": "model", "heldout": "dataset"}
    evidence_kinds = ("compression",)

    def execute(self, context: StageContext, options: ExportParams) -> StageResult:
        """Export ``context.inputs["model"]`` and return the folder with evidence."""
        params = options.model_dump()
        model = _model_input(context)
        if model.kind not in (*TORCH_KINDS, ADAPTER_KIND):
            raise ValidationError(
                f'operation "{self.name}": role "model" has kind {model.kind!r}; expected one of '
                f"{', '.join((*TORCH_KINDS, ADAPTER_KIND))}"
            )
        heldout = _heldout_texts(context, params)
        progress = context.progress
        progress.start("onnx-export", total=3)
        started = time.perf_counter()
        loaded, derived = _load_torch_source(context, model)
        out_dir = context.workdir / "onnx"
        manifest = export_onnx(loaded, out_dir, opset=params["opset"], source_kind=model.kind)
        export_seconds = time.perf_counter() - started
        progress.advance(1, phase="exported")

        ort_model = OrtCausalLM.from_folder(out_dir, threads=params["threads"])
        model_path, data_paths = check_onnx_folder(out_dir)
        texts = _eval_texts(heldout, out_dir, params, manifest.get("max_positions"))
        torch_fn = _torch_logits_fn(loaded)
        with torch_threads(params["threads"]):
            quality = compare_quality(torch_fn, ort_model.logits, texts.sequences)
            progress.advance(1, phase="quality")
            times = time_engines(
                {"torch_fp32": torch_fn, "ort_fp32": ort_model.logits},
                texts.prompts,
                repeats=params["latency_repeats"],
            )
        progress.advance(1, phase="latency")
        progress.finish()

        latency = _latency_metrics(times)
        metrics = _common_metrics(
            size_before=torch_weight_bytes(loaded.weights_dir),
            size_after=onnx_weight_bytes(model_path, data_paths),
            latency_before="torch_fp32",
            latency_after="ort_fp32",
            latency=latency,
            quality=quality,
            quantized_ops=0,
        )
        metrics.update(latency)
        metrics["latency_ratio_vs_torch_fp32"] = metrics["latency_ratio"]
        metrics["perplexity_torch_fp32"] = metrics["perplexity_before"]
        metrics["perplexity_ort_fp32"] = metrics["perplexity_after"]
        details = {
            "source": {
                "ref": model.ref,
                "kind": model.kind,
                "merged_adapter": derived != ["model"],
            },
            "manifest": manifest,
            **_measured_on(texts, quality, params),
            "operators": op_histogram(model_path),
            "versions": _library_versions(),
        }
        run_metrics = {
            "export_seconds": round(export_seconds, 3),
            "logits_max_abs_diff": quality.max_abs_logit_diff,
        }
        output = _onnx_output(out_dir, ONNX_KIND, derived, precision="fp32", opset=params["opset"])
        return _compression_result(output, metrics, details, run_metrics, params)


class OnnxInt8(BaseOperation[Int8Params]):
    """Quantize an ONNX export (or a torch model, exported first in the same run) to int8 with
    onnxruntime.quantization: dynamic by default, static with a calibration dataset (params
    {"mode": "static"}, role "calibration"). Measures size, latency, perplexity and greedy
    agreement against fp32.

    Quantize a model to int8 with ONNX Runtime (dynamic, or static with calibration).
    """

    name = "onnx-int8"
    input_roles = {
        "model": "model",
        "base": "model",
        "heldout": "dataset",
        "calibration": "dataset",
    }
    evidence_kinds = ("compression",)

    def execute(self, context: StageContext, options: Int8Params) -> StageResult:
        """Quantize ``context.inputs["model"]`` and return the int8 folder with evidence."""
        params = options.model_dump()
        model = _model_input(context)
        assert model.path is not None
        if model.kind != ONNX_KIND and model.kind not in (*TORCH_KINDS, ADAPTER_KIND):
            raise ValidationError(
                f'operation "{self.name}": role "model" has kind {model.kind!r}; expected "onnx" '
                f"or a torch kind ({', '.join((*TORCH_KINDS, ADAPTER_KIND))})"
            )
        heldout = _heldout_texts(context, params)
        calibration_texts = (
            self._calibration_texts(context, params) if params["mode"] == "static" else None
        )
        progress = context.progress
        progress.start("onnx-int8", total=4)
        seconds: dict[str, float] = {}
        loaded: LoadedModel | None = None
        if model.kind == ONNX_KIND:
            src, derived = model.path, ["model"]
        else:
            started = time.perf_counter()
            loaded, derived = _load_torch_source(context, model)
            src = context.workdir / "fp32-export"
            export_onnx(loaded, src, opset=params["opset"], source_kind=model.kind)
            seconds["export_seconds"] = round(time.perf_counter() - started, 3)
        progress.advance(1, phase="source ready")

        calibration = None
        if calibration_texts is not None:
            tokenizer = load_tokenizer(src)
            calibration = [
                list(map(int, tokenizer(t)["input_ids"][: params["max_eval_tokens"]]))
                for t in calibration_texts
            ]
            derived = [*derived, "calibration"]
        started = time.perf_counter()
        out_dir = context.workdir / "onnx-int8"
        manifest = quantize_folder(
            src,
            out_dir,
            mode=params["mode"],
            per_channel=params["per_channel"],
            reduce_range=resolve_reduce_range(params["reduce_range"]),
            calibration=calibration,
        )
        seconds["quantize_seconds"] = round(time.perf_counter() - started, 3)
        progress.advance(1, phase="quantized")

        metrics, details = self._measure(heldout, src, out_dir, loaded, manifest, params, progress)
        details["source"] = {"ref": model.ref, "kind": model.kind}
        progress.finish()
        output = _onnx_output(out_dir, INT8_KIND, derived, precision="int8", mode=params["mode"])
        return _compression_result(output, metrics, details, seconds, params)

    def _calibration_texts(self, context: StageContext, params: Mapping[str, Any]) -> list[str]:
        calibration = context.input("calibration")
        if calibration.asset_type != "dataset" or calibration.path is None:
            raise StageError(
                f'role "calibration" must be a dataset version (got {calibration.ref})'
            )
        return read_dataset_texts(
            calibration.path, calibration.kind, limit=params["calibration_records"]
        )

    def _measure(
        self,
        heldout: tuple[list[str], str],
        src: Path,
        out_dir: Path,
        loaded: LoadedModel | None,
        manifest: Mapping[str, Any],
        params: Mapping[str, Any],
        progress: Any,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        fp32 = OrtCausalLM.from_folder(src, threads=params["threads"])
        int8 = OrtCausalLM.from_folder(out_dir, threads=params["threads"])
        fp32_path, fp32_data = check_onnx_folder(src)
        int8_path, int8_data = check_onnx_folder(out_dir)
        texts = _eval_texts(heldout, out_dir, params, manifest.get("max_positions"))
        quality = compare_quality(fp32.logits, int8.logits, texts.sequences)
        progress.advance(1, phase="quality")
        engines: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
        if loaded is not None:
            engines["torch_fp32"] = _torch_logits_fn(loaded)
        engines["ort_fp32"] = fp32.logits
        engines["ort_int8"] = int8.logits
        with torch_threads(params["threads"]):
            times = time_engines(engines, texts.prompts, repeats=params["latency_repeats"])
        progress.advance(1, phase="latency")

        ops_after = op_histogram(int8_path)
        quantized_ops = {op: n for op, n in ops_after.items() if op in QUANTIZATION_OP_TYPES}
        latency = _latency_metrics(times)
        metrics = _common_metrics(
            size_before=onnx_weight_bytes(fp32_path, fp32_data),
            size_after=onnx_weight_bytes(int8_path, int8_data),
            latency_before="ort_fp32",
            latency_after="ort_int8",
            latency=latency,
            quality=quality,
            quantized_ops=sum(quantized_ops.values()),
        )
        metrics.update(latency)
        metrics["latency_ratio_vs_ort_fp32"] = metrics["latency_ratio"]
        if loaded is not None:
            metrics["latency_ratio_vs_torch_fp32"] = round(
                latency["latency_p50_ms_ort_int8"] / latency["latency_p50_ms_torch_fp32"], 6
            )
            metrics["size_bytes_torch_fp32"] = torch_weight_bytes(loaded.weights_dir)
        metrics["perplexity_fp32"] = metrics["perplexity_before"]
        metrics["perplexity_int8"] = metrics["perplexity_after"]
        stats = weight_stats(int8_path)
        total = stats["quantized_elements"] + stats["other_elements"]
        metrics["weights_quantized_fraction"] = round(stats["quantized_elements"] / total, 6)
        metrics.update({f"ops_{op}": n for op, n in quantized_ops.items()})
        details = {
            "manifest": manifest,
            **_measured_on(texts, quality, params, engines=list(engines)),
            "quantized_operators": quantized_ops,
            "operators_before": op_histogram(fp32_path),
            "operators_after": ops_after,
            "weights": stats,
            "versions": _library_versions(),
        }
        return metrics, details
