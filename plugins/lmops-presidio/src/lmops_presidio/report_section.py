"""The "PII evidence" section of the validation report: counts per entity type, never values."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lmops_core.reports.blocks import (
    NONE_RECORDED,
    Block,
    ReportSection,
    Table,
    Text,
    evidence_caption,
    fmt_value,
    metrics_table,
    numbers_only,
)

if TYPE_CHECKING:
    from lmops_core.registry.schemas import EvidencePublic
    from lmops_core.reports.model import ReportFacts

KIND = "pii"


def _entity_table(e: EvidencePublic) -> Table:
    entities = sorted(
        {k.split(".", 1)[1] for k in e.metrics if k.startswith(("before.", "after."))}
    )
    rows = tuple(
        (
            ent,
            fmt_value(e.metrics.get(f"before.{ent}", "")),
            fmt_value(e.metrics.get(f"after.{ent}", "")),
        )
        for ent in entities
    )
    return Table(
        columns=("entity type", "found before", "found after"),
        rows=rows,
        caption=evidence_caption(e),
    )


def pii_section(facts: ReportFacts) -> ReportSection:
    """Per dataset in the lineage: personal data found before redaction and left after it."""
    blocks: list[Block] = []
    for ref in facts.dataset_refs:
        e = facts.latest(ref, KIND)
        if e is None:
            blocks.append(Text(f"{ref}: pii evidence: {NONE_RECORDED}"))
            continue
        totals = {
            k: v
            for k, v in numbers_only(e.metrics).items()
            if not k.startswith(("before.", "after."))
        }
        blocks.append(_entity_table(e))
        blocks.append(metrics_table(totals, f"pii totals on {ref}"))
    return ReportSection(key="pii", title="PII evidence", blocks=tuple(blocks), after="data")
