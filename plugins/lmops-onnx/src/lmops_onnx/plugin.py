"""Hook implementations of lmops-onnx: two compressors and the ``compression`` evidence kind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmops_core import hookimpl
from lmops_core.contracts import Register
from lmops_onnx.evidence import COMPRESSION_EVIDENCE

if TYPE_CHECKING:
    from lmops_core.reports import ReportFacts, ReportSection


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


@hookimpl
def lmops_report_sections(facts: ReportFacts) -> list[ReportSection]:
    """The compression trade-offs section: every ONNX version's evidence side by side."""
    from lmops_onnx.report_section import compression_section

    return [compression_section(facts)]
