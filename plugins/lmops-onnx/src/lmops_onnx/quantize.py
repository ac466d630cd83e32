"""Int8 quantization of an exported folder with ``onnxruntime.quantization``.

Dynamic mode stores weights as int8 and quantizes activations on the fly
(``DynamicQuantizeLinear`` + ``MatMulInteger``): no data needed. Static mode
calibrates activation ranges on tokenized records and writes a QDQ graph.
"""

from __future__ import annotations

import platform
import shutil
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lmops_core.errors import StageError, ValidationError
from lmops_onnx.export import read_manifest, write_manifest
from lmops_onnx.safety import MODEL_FILE, check_onnx_folder

# Op types that only appear in a graph because it was quantized.
QUANTIZATION_OP_TYPES = frozenset(
    {
        "MatMulInteger",
        "DynamicQuantizeLinear",
        "QuantizeLinear",
        "DequantizeLinear",
        "QLinearMatMul",
        "ConvInteger",
        "QLinearConv",
        "QGemm",
        "QAttention",
        "DynamicQuantizeMatMul",
        "MatMulIntegerToFloat",
        "QLinearAdd",
        "QLinearMul",
        "GatherBlockQuantized",
        "MatMulNBits",
    }
)
# Above this many fp32 bytes the int8 graph could pass protobuf's 2 GB limit.
_EXTERNAL_DATA_THRESHOLD = 6 * 1024**3
_COMPANION_SKIP = {MODEL_FILE, f"{MODEL_FILE}.data", "lmops_onnx.json"}
MODES = ("dynamic", "static")


class TokenCalibrationReader:
    """A calibration data reader feeding tokenized records, one sequence per batch.

    onnxruntime's ``CalibrationDataReader`` ABC accepts any class with
    ``get_next`` (its ``__subclasshook__``), which keeps onnxruntime's import lazy.
    """

    def __init__(self, sequences: Sequence[Sequence[int]], input_name: str = "input_ids") -> None:
        if not sequences:
            raise ValidationError("static quantization needs at least one calibration record")
        self._feeds = [
            {input_name: np.asarray([list(seq)], dtype=np.int64)} for seq in sequences if seq
        ]
        self._iter: Iterator[dict[str, np.ndarray]] = iter(self._feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next input feed, or ``None`` when all records were read."""
        return next(self._iter, None)

    def rewind(self) -> None:
        """Start again from the first record."""
        self._iter = iter(self._feeds)

    def __len__(self) -> int:
        return len(self._feeds)


def op_histogram(model_path: Path) -> dict[str, int]:
    """Count of nodes per op type in the top-level graph (no weights are read)."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    return dict(sorted(Counter(node.op_type for node in model.graph.node).items()))


def weight_stats(model_path: Path) -> dict[str, int]:
    """Elements of the initializers, split into 8-bit and other storage."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    eight_bit = {onnx.TensorProto.INT8, onnx.TensorProto.UINT8}
    quantized = other = 0
    for tensor in model.graph.initializer:
        count = int(np.prod(tensor.dims)) if tensor.dims else 1
        if tensor.data_type in eight_bit:
            quantized += count
        else:
            other += count
    return {"quantized_elements": quantized, "other_elements": other}


def _copy_companions(src: Path, dst: Path) -> None:
    for path in src.iterdir():
        if path.is_file() and path.name not in _COMPANION_SKIP:
            shutil.copy2(path, dst / path.name)


def quantize_folder(
    src: Path,
    dst: Path,
    *,
    mode: str = "dynamic",
    per_channel: bool = False,
    reduce_range: bool = False,
    calibration: Sequence[Sequence[int]] | None = None,
) -> dict[str, Any]:
    """Quantize the fp32 export in ``src`` to int8 into ``dst``; return the new manifest.

    ``mode="static"`` needs ``calibration``: token id sequences run through the
    fp32 graph to fix activation ranges (MinMax, QDQ format).
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static

    if mode not in MODES:
        raise ValidationError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    manifest = read_manifest(src)
    model_path, data_paths = check_onnx_folder(src, manifest.get("model_file", MODEL_FILE))
    fp32_bytes = model_path.stat().st_size + sum(p.stat().st_size for p in data_paths)
    dst.mkdir(parents=True, exist_ok=True)
    out_path = dst / MODEL_FILE
    # Settings both modes share: signed int8 weights, written as one file unless too large.
    common: dict[str, Any] = {
        "weight_type": QuantType.QInt8,
        "per_channel": per_channel,
        "reduce_range": reduce_range,
        "use_external_data_format": fp32_bytes > _EXTERNAL_DATA_THRESHOLD,
    }
    try:
        if mode == "dynamic":
            quantize_dynamic(model_path, out_path, **common)
        else:
            if not calibration:
                raise ValidationError(
                    'static quantization needs calibration records (role "calibration")'
                )
            reader = TokenCalibrationReader(calibration, manifest["inputs"][0]["name"])
            quantize_static(
                model_path,
                out_path,
                reader,
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                **common,
            )
    except ValidationError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime.quantization raises assorted types
        raise StageError(
            f"onnxruntime quantization ({mode}) of {model_path} failed: {exc}"
        ) from exc
    _copy_companions(src, dst)
    new_manifest = dict(manifest)
    new_manifest.update(
        {
            "model_file": MODEL_FILE,
            "precision": "int8",
            "quantization": {
                "tool": "onnxruntime.quantization",
                "mode": mode,
                "weight_type": "int8",
                "activation_type": "uint8",
                "per_channel": per_channel,
                "reduce_range": reduce_range,
                "format": "QOperator (dynamic)" if mode == "dynamic" else "QDQ",
                "calibration_records": len(calibration) if calibration and mode == "static" else 0,
            },
        }
    )
    write_manifest(dst, new_manifest)
    return new_manifest


def cpu_has_vnni(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool | None:
    """Whether this x86 CPU has VNNI (AVX512-VNNI or AVX-VNNI); ``None`` when unknown."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        text = cpuinfo.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")),
        None,
    )
    if flags is None:
        return None
    return "avx512_vnni" in flags or "avx_vnni" in flags


def resolve_reduce_range(asked: bool | None) -> bool:
    """``asked``, or when unset: 7-bit weights on x86 CPUs without VNNI.

    There ONNX Runtime multiplies unsigned activations by signed weights with
    an instruction that saturates 16-bit sums, which 8-bit weights can
    overflow (ONNX Runtime's quantization guide recommends ``reduce_range``
    for such CPUs). The value used is recorded with the quantization.
    """
    if asked is not None:
        return asked
    return cpu_has_vnni() is False
