"""Hook implementations of lmops-onnx: two compressors and the ``compression`` evidence kind."""

from __future__ import annotations

from lmops_core import hookimpl
from lmops_core.contracts import Register
from lmops_onnx.evidence import COMPRESSION_EVIDENCE


@hookimpl
def register_compressors(register: Register) -> None:
    """Offer ``onnx-export`` and ``onnx-int8``."""
    from lmops_onnx.operations import OnnxExport, OnnxInt8

    register(OnnxExport())
    register(OnnxInt8())


@hookimpl
def register_evidence_kinds(register: Register) -> None:
    """Declare the ``compression`` evidence kind and its metrics."""
    register(COMPRESSION_EVIDENCE)
