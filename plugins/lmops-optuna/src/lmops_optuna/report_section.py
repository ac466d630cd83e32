"""The "Hyperparameter sweep" section of the validation report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmops_core.reports.blocks import Block, ReportSection, Text, evidence_caption, metrics_table

if TYPE_CHECKING:
    from lmops_core.reports.model import ReportFacts


def sweep_section(facts: ReportFacts) -> ReportSection:
    """The sweep the version was a trial of: its objective, whether it is the candidate, and
    the link (by digest) to the study's HTML report of history and parameter importances."""
    blocks: list[Block] = []
    for ref in facts.lineage_models():
        e = facts.latest(ref, "sweep")
        if e is None:
            continue
        blocks.append(metrics_table(e.metrics, evidence_caption(e)))
        if not e.metrics.get("candidate"):
            blocks.append(
                Text(f"not the sweep's candidate; the candidate is {e.details.get('best')}")
            )
        for name in sorted(e.artifacts):
            blocks.append(
                Text(
                    f"sweep {name} (HTML: history, loss curves, parameter importances): "
                    f"{e.artifacts[name]}; export it from the artifact store by digest"
                )
            )
    return ReportSection(
        key="sweep", title="Hyperparameter sweep", blocks=tuple(blocks), after="training"
    )
