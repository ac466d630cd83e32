"""The "Compression trade-offs" section of the validation report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmops_core.reports.blocks import ReportSection, Table, evidence_caption, fmt_value

if TYPE_CHECKING:
    from lmops_core.registry.schemas import EvidencePublic
    from lmops_core.reports.model import ReportFacts

KIND = "compression"
#: Model kinds this plugin produces: their compression evidence is a trade-off worth tabling.
COMPRESSED_KINDS = ("onnx", "onnx-int8")


def compression_section(facts: ReportFacts) -> ReportSection:
    """One column per compressed version (the version and its ONNX descendants), one row per metric."""
    found: list[tuple[str, str, EvidencePublic]] = []
    for ref in facts.lineage_models():
        kind = getattr(facts.nodes.get(ref), "kind", None)
        e = facts.latest(ref, KIND)
        if e is not None and (kind in COMPRESSED_KINDS or ref == facts.version.ref):
            found.append((ref, str(kind), e))
    blocks: tuple[Table, ...] = ()
    if found:
        keys = sorted({k for _, _, e in found for k in e.metrics})
        rows = tuple((k, *(fmt_value(e.metrics.get(k)) for _, _, e in found)) for k in keys)
        caption = "compression evidence: " + "; ".join(
            f"{ref} ({kind}) {evidence_caption(e)}" for ref, kind, e in found
        )
        blocks = (
            Table(columns=("metric", *(ref for ref, _, _ in found)), rows=rows, caption=caption),
        )
    return ReportSection(
        key="compression", title="Compression trade-offs", blocks=blocks, after="training"
    )
