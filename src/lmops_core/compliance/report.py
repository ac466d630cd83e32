"""``render_pack_report(ws, pack, ref)``: every clause of a pack, its status and its evidence.

The document is built from registry facts only and rendered by the validation
report's Markdown and HTML renderers, so its digest (over the canonical content)
is the same for the same store state, run after run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from lmops_core.compliance.labels import LABELS
from lmops_core.compliance.loader import CompliancePack
from lmops_core.compliance.verdict import ClauseVerdict, PackJudge, judge_pack
from lmops_core.governance.schemas import ApprovalRequestPublic, Page
from lmops_core.policy import RuleOutcome
from lmops_core.registry.schemas import EvidencePublic, VersionPublic
from lmops_core.reports.blocks import fmt_time, fmt_value, measured_values, numbers_only
from lmops_core.reports.document import Block, Document, Section, Table, Text
from lmops_core.reports.html import render_html
from lmops_core.reports.markdown import render_markdown

_REQUEST_PAGE = 500


class PackGovernance(PackJudge, Protocol):
    """The governance service as a pack report reads it."""

    def list_requests(
        self, *, asset_type: str | None = None, limit: int = 50, offset: int = 0
    ) -> Page:
        """A page of promotion requests (of one asset type), newest first."""
        ...


class PackReportSource(Protocol):
    """What a pack report reads of a store (a ``Workspace`` is one)."""

    @property
    def governance(self) -> PackGovernance:
        """The governance service."""
        ...

    def get(self, ref: str) -> VersionPublic:
        """The version a reference names."""
        ...

    def evidence(self, ref: str, *, kind: str | None = None) -> list[EvidencePublic]:
        """The evidence on ``ref``, oldest first."""
        ...


@dataclass(frozen=True)
class PackReport:
    """A rendered pack report: the document, its digest, both renderings and the verdicts."""

    ref: str
    pack: str
    document: Document
    digest: str
    markdown: str
    html: str
    verdicts: tuple[ClauseVerdict, ...]


def render_pack_report(ws: PackReportSource, pack: CompliancePack, ref: str) -> PackReport:
    """The report of model version ``ref`` against ``pack``, in the pack's language."""
    version = ws.get(ref)
    approved = _approved_requests(ws, version)
    verdicts = judge_pack(ws.governance, pack, version.ref, approved)
    newest: dict[str, EvidencePublic] = {}
    for record in ws.evidence(version.ref):  # oldest first: the newest of a kind stays
        newest[record.kind] = record
    doc = build_pack_document(pack, version, verdicts, newest, approved)
    digest = doc.digest()
    return PackReport(
        ref=version.ref,
        pack=pack.id,
        document=doc,
        digest=digest,
        markdown=render_markdown(doc, digest),
        html=render_html(doc, digest),
        verdicts=tuple(verdicts),
    )


def _approved_requests(ws: PackReportSource, version: VersionPublic) -> list[ApprovalRequestPublic]:
    found, offset = [], 0
    while True:
        page = ws.governance.list_requests(
            asset_type=version.asset_type, limit=_REQUEST_PAGE, offset=offset
        )
        found += [
            r for r in page.items if r.status == "approved" and r.version_digest == version.digest
        ]
        offset += len(page.items)
        if not page.items or offset >= page.total:
            break
    return sorted(found, key=lambda r: (r.created_at, r.id))


def build_pack_document(
    pack: CompliancePack,
    version: VersionPublic,
    verdicts: Sequence[ClauseVerdict],
    newest: Mapping[str, EvidencePublic],
    approved: Sequence[ApprovalRequestPublic],
) -> Document:
    """The report document: an overview, the clause table, one section per clause, the
    approval trail. Reads only its arguments, so the same facts give the same document."""
    words = LABELS[pack.document.language]
    counts = {
        key: sum(v.status == key for v in verdicts) for key in ("met", "not-met", "not-evidenced")
    }
    overview = Text(
        "; ".join(
            (
                f"{words['standard']}: {pack.document.standard}",
                f"{words['pack']}: {pack.id} {pack.document.version}",
                f"{words['pack_digest']}: {pack.digest}",
                f"{words['version']}: {version.ref} ({version.digest})",
            )
        )
    )
    table = Table(
        columns=(words["clause"], words["clause_title"], words["status"], words["rules"]),
        rows=tuple(
            (v.clause.id, v.clause.title, words[v.status], ", ".join(v.clause.rules))
            for v in verdicts
        ),
    )
    sections = [
        Section("overview", words["overview"], (overview, Text(words["counts"].format(**counts)))),
        Section("clauses", words["clauses"], (table,)),
    ]
    sections += [_clause_section(v, newest, words, pack) for v in verdicts]
    sections.append(Section("approvals", words["approvals"], _approval_blocks(approved, words)))
    title = f"{pack.document.title} {words['title']}"
    return Document(title=title, subject=version.ref, sections=tuple(sections))


def _clause_section(
    verdict: ClauseVerdict,
    newest: Mapping[str, EvidencePublic],
    words: Mapping[str, str],
    pack: CompliancePack,
) -> Section:
    clause = verdict.clause
    blocks: list[Block] = [Text(f"{words['status']}: {words[verdict.status]}")]
    if clause.summary:
        blocks.append(Text(f"{words['summary']}: {clause.summary}"))
    metrics_of = {kind: numbers_only(e.metrics) for kind, e in newest.items()}
    blocks.append(
        Table(
            columns=(
                words["rules"],
                words["check"],
                words["result"],
                words["detail"],
                words["measured"],
            ),
            rows=tuple(
                (
                    o.rule,
                    o.condition,
                    o.status,
                    _detail(o),
                    measured_values(o.expression, metrics_of),
                )
                for o in verdict.outcomes
            ),
            caption=words["checks"],
        )
    )
    kinds = dict.fromkeys(
        req.kind
        for rule in pack.document.rules
        if rule.name in clause.rules
        for req in rule.evidence
    )
    blocks.append(
        Table(
            columns=(
                words["kind"],
                words["digest"],
                words["recorded"],
                words["by"],
                words["metrics"],
            ),
            rows=tuple(_evidence_row(newest[k]) for k in kinds if k in newest),
            caption=words["evidence"],
        )
    )
    blocks.append(Text(_approvals_line(verdict, words)))
    return Section(f"clause-{clause.id}", f"{clause.id} {clause.title}", tuple(blocks))


def _detail(outcome: RuleOutcome) -> str:
    """The expression, and why a check did not pass; never the engine's "recorded N ago",
    which would change the digest as time passes."""
    if outcome.status == "pass":
        return outcome.expression or ""
    if outcome.expression and outcome.message:
        return f"{outcome.expression} ({outcome.message})"
    return outcome.expression or outcome.message


def _evidence_row(e: EvidencePublic) -> tuple[str, ...]:
    metrics = numbers_only(e.metrics)
    shown = ", ".join(f"{k}={fmt_value(metrics[k])}" for k in sorted(metrics))
    return (e.kind, e.digest, fmt_time(e.created_at), e.created_by, shown)


def _roles(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{role} ×{count}" for role, count in counts.items())


def _approvals_line(verdict: ClauseVerdict, words: Mapping[str, str]) -> str:
    if not verdict.required_approvals:
        return words["no_approvals"]
    line = words["required"].format(roles=_roles(verdict.required_approvals))
    if verdict.missing_approvals:
        line += "; " + words["missing"].format(roles=_roles(verdict.missing_approvals))
    return line


def _approval_blocks(
    approved: Sequence[ApprovalRequestPublic], words: Mapping[str, str]
) -> tuple[Block, ...]:
    rows: list[tuple[str, ...]] = []
    for request in approved:
        rows += [
            (request.id, request.target_stage, d.actor, d.role, d.decision, d.comment)
            for d in request.decisions
        ]
    columns = ("request", "stage", "reviewer", "role", "decision", "comment")
    return (Table(columns=tuple(words[c] for c in columns), rows=tuple(rows)),) if rows else ()


__all__ = ["PackReport", "PackReportSource", "build_pack_document", "render_pack_report"]
