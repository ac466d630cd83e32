"""Hook implementations of lmops-onnx: compressors, ``compression`` evidence, the ORT runtime."""

from __future__ import annotations

from pathlib import Path

from lmops_core import hookimpl
from lmops_core.contracts import Register
from lmops_core.kit import registers, report_sections
from lmops_core.runtimes import LoadedModel, ModelRuntime

#: Model kinds this plugin exports and runs with ONNX Runtime.
ONNX_KINDS = ("onnx", "onnx-int8")


def open_onnx_model(
    folder: Path, *, base: Path | None = None, threads: int | None = None
) -> LoadedModel:
    """An :class:`~lmops_onnx.runtime.OrtGenerator` over an exported folder (ORT imported here)."""
    from lmops_onnx.runtime import OrtGenerator

    return OrtGenerator(folder, threads=threads)


def tiny_onnx(folder: Path, *, seed: int = 0, base: Path | None = None) -> Path:
    """The tiny ``base`` model exported to ONNX (fp32): the runtime's ``tiny`` builder."""
    from lmops_core.errors import ValidationError
    from lmops_onnx.export import export_onnx, load_causal_lm

    if base is None:
        raise ValidationError(
            "a tiny ONNX model is exported from a base model folder", field="base"
        )
    export_onnx(load_causal_lm(base, kind="base"), folder, source_kind="base")
    return folder


def tiny_onnx_int8(folder: Path, *, seed: int = 0, base: Path | None = None) -> Path:
    """The tiny ``base`` model exported, then quantized to int8 (dynamic)."""
    from lmops_onnx.quantize import quantize_folder

    fp32 = tiny_onnx(folder.with_name(folder.name + "-fp32"), seed=seed, base=base)
    quantize_folder(fp32, folder)
    return folder


#: The tiny builder of each kind in :data:`ONNX_KINDS`.
TINY_BUILDERS = dict(zip(ONNX_KINDS, (tiny_onnx, tiny_onnx_int8), strict=True))


@hookimpl
def register_model_runtimes(register: Register) -> None:
    """Open ``onnx`` and ``onnx-int8`` folders with ONNX Runtime (generation only)."""
    about = "exported causal LM in an ONNX Runtime session"
    for kind, tiny in TINY_BUILDERS.items():
        register(ModelRuntime(kind, open_onnx_model, "onnxruntime", tiny=tiny, description=about))


#: ``onnx-export`` and ``onnx-int8``; the ``compression`` kind; the compression trade-offs
#: section of the validation report (every ONNX version's evidence side by side).
register_compressors = registers(
    "lmops_onnx.operations:OnnxExport", "lmops_onnx.operations:OnnxInt8"
)
register_evidence_kinds = registers("lmops_onnx.evidence:COMPRESSION_EVIDENCE")
lmops_report_sections = report_sections("lmops_onnx.report_section:compression_section")
