"""The "Drift baseline" section of the validation report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmops_core.reports.blocks import Block, ReportSection, Text, evidence_caption, metrics_table

if TYPE_CHECKING:
    from lmops_core.reports.model import ReportFacts

KIND = "drift"


def drift_section(facts: ReportFacts) -> ReportSection:
    """Drift evidence on the version and its descendants, or the dataset to monitor against."""
    blocks: list[Block] = []
    for ref in facts.lineage_models():
        e = facts.latest(ref, KIND)
        if e is None:
            continue
        blocks.append(metrics_table(e.metrics, evidence_caption(e)))
        for name in sorted(e.artifacts):
            blocks.append(Text(f"artifact {name}: {e.artifacts[name]} (not embedded)"))
    if not blocks:
        # The reference is the data a model in the lineage was trained on (a direct parent).
        refs = [
            r
            for r in facts.dataset_refs
            if any(e.parent == r and e.child.startswith("model:") for e in facts.ancestors)
        ] or list(facts.dataset_refs)
        for ref in refs:
            node = facts.nodes[ref]
            blocks.append(
                Text(
                    f"no drift evidence; reference dataset for drift monitoring: "
                    f"{ref} ({getattr(node, 'record_count', '?')} records, "
                    f"{node.digest})"
                )
            )
    return ReportSection(
        key="drift", title="Drift baseline", blocks=tuple(blocks), after="explanations"
    )
