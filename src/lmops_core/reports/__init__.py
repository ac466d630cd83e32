"""Validation reports for model-risk reviewers: ``render_report(ws, ref)``.

A report gathers a model version's identity, lineage, the headline metrics of
every kind of evidence on it, data evidence, training configuration,
evaluation results (next to the version in production), explanations, policy
evaluation, approval trail and open issues, plus the sections plugins add
through ``lmops_report_sections`` (PII counts, compression trade-offs, drift
baselines...), into one document, rendered as
Markdown and as self-contained HTML. Its digest is the SHA-256 of the
document's canonical content, so the same store state gives the same digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lmops_core.reports.document import Document, ReportSection
from lmops_core.reports.extensions import plugin_sections
from lmops_core.reports.html import render_html
from lmops_core.reports.markdown import render_markdown
from lmops_core.reports.model import ReportFacts, ReportSource, gather
from lmops_core.reports.sections import SECTIONS, build_document
from lmops_core.terms import GovernedStage


@dataclass(frozen=True)
class Report:
    """A rendered report: the document, its digest and both renderings."""

    ref: str
    document: Document
    digest: str
    markdown: str
    html: str
    #: The newest signed audit checkpoint when the report was rendered (outside the digest).
    audit_checkpoint: dict[str, Any] | None = None


def render_report(ws: ReportSource, ref: str, *, to: GovernedStage = "production") -> Report:
    """The validation report of model version ``ref``, judged for promotion to ``to``."""
    facts = gather(ws, ref, to=to)
    doc = build_document(facts, plugin_sections(ws.plugins, facts))
    digest = doc.digest()
    checkpoint = ws.latest_audit_checkpoint()  # proves the audit log's length at this time
    return Report(
        ref=facts.version.ref,
        document=doc,
        digest=digest,
        markdown=render_markdown(doc, digest, checkpoint),
        html=render_html(doc, digest, checkpoint),
        audit_checkpoint=checkpoint,
    )


__all__ = [
    "SECTIONS",
    "Report",
    "ReportFacts",
    "ReportSection",
    "ReportSource",
    "gather",
    "render_report",
]
