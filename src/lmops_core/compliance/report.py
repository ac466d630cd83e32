"""``render_pack_report(ws, pack, ref)``: every clause of a pack, its status and its evidence.

The document is built from registry facts only and rendered by the validation
report's Markdown and HTML renderers, so its digest (over the canonical content)
is the same for the same store state, run after run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from lmops_core.compliance.facts import DerivedFact, FactSource, derive_facts
from lmops_core.compliance.labels import CHROME, LABELS, term
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


class PackReportSource(FactSource, Protocol):
    """What a pack report reads of a store (a ``Workspace`` is one)."""

    @property
    def governance(self) -> PackGovernance:
        """The governance service."""
        ...

    def get(self, ref: str) -> VersionPublic:
        """The version a reference names."""
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
    derived = derive_facts(ws, version)
    now = datetime.now(UTC)
    verdicts = judge_pack(
        ws.governance,
        pack,
        version.ref,
        approved,
        extra=[fact.as_evidence(version, now) for fact in derived],
        author=version.created_by,
    )
    newest: dict[str, EvidencePublic | DerivedFact] = {}
    for record in ws.evidence(version.ref):  # oldest first: the newest of a kind stays
        newest[record.kind] = record
    newest.update((fact.kind, fact) for fact in derived)  # as judged: derived facts win
    doc = build_pack_document(pack, version, verdicts, newest, approved)
    digest = doc.digest()
    chrome = CHROME[pack.document.language]
    return PackReport(
        ref=version.ref,
        pack=pack.id,
        document=doc,
        digest=digest,
        markdown=render_markdown(doc, digest, chrome=chrome),
        html=render_html(doc, digest, chrome=chrome),
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
    newest: Mapping[str, EvidencePublic | DerivedFact],
    approved: Sequence[ApprovalRequestPublic],
) -> Document:
    """The report document: an overview, the clause table, one section per clause, the
    approval trail. Reads only its arguments, so the same facts give the same document."""
    words = LABELS[pack.document.language]
    counts = {
        key: sum(v.status == key for v in verdicts) for key in ("met", "not-met", "not-evidenced")
    }
    colon = words["colon"]
    overview = Text(
        words["semicolon"].join(
            (
                f"{words['standard']}{colon}{pack.document.standard}",
                f"{words['pack']}{colon}{pack.id} {pack.document.version}",
                f"{words['pack_digest']}{colon}{pack.digest}",
                f"{words['version']}{colon}{version.ref} ({version.digest})",
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
    newest: Mapping[str, EvidencePublic | DerivedFact],
    words: Mapping[str, str],
    pack: CompliancePack,
) -> Section:
    clause = verdict.clause
    colon = words["colon"]
    blocks: list[Block] = [Text(f"{words['status']}{colon}{words[verdict.status]}")]
    if clause.summary:
        blocks.append(Text(f"{words['summary']}{colon}{clause.summary}"))
    metrics_of = {kind: numbers_only(e.metrics) for kind, e in newest.items()}
    none = words["none_value"]
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
                    _check_name(o, words),
                    words[f"outcome.{o.status}"],
                    _detail(o, words),
                    measured_values(o.expression, metrics_of, none=none),
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
                words["artifacts"],
            ),
            rows=tuple(_evidence_row(newest[k], words) for k in kinds if k in newest),
            caption=words["evidence"],
        )
    )
    blocks.append(Text(_approvals_line(verdict, words)))
    return Section(f"clause-{clause.id}", f"{clause.id} {clause.title}", tuple(blocks))


def _check_name(outcome: RuleOutcome, words: Mapping[str, str]) -> str:
    if outcome.check == "evidence":
        return words["check_evidence"].format(kind=outcome.condition.removeprefix("evidence:"))
    return outcome.condition


def _detail(outcome: RuleOutcome, words: Mapping[str, str]) -> str:
    """The expression, and why a check did not pass, in the report's language; never the
    engine's "recorded N ago", which would change the digest as time passes.

    A failed condition shows the pack's own message (written in the pack's language)."""
    if outcome.status == "pass":
        return outcome.expression or ""
    if outcome.status == "fail":
        # The engine's default when a condition has no message of its own.
        why = words["why.false"] if outcome.message == "condition is false" else outcome.message
    else:
        group = outcome.check if outcome.check in ("evidence", "definition") else outcome.status
        kind = outcome.condition.removeprefix("evidence:")
        why = words[f"why.{group}"].format(message=outcome.message, kind=kind)
    if outcome.expression and why:
        return words["because"].format(expression=outcome.expression, why=why)
    return outcome.expression or why


def _evidence_row(e: EvidencePublic | DerivedFact, words: Mapping[str, str]) -> tuple[str, ...]:
    metrics = numbers_only(e.metrics)
    shown = ", ".join(f"{k}={fmt_value(metrics[k])}" for k in sorted(metrics))
    if isinstance(e, DerivedFact):
        basis = "; ".join(e.basis)
        return (e.kind, e.digest, words["derived"], "lmops", shown, basis)
    return (e.kind, e.digest, fmt_time(e.created_at), e.created_by, shown, _linked(e))


def _linked(e: EvidencePublic) -> str:
    """The evidence's stored files (each a digest in the artifact store), and the judge and
    sample it names when it names them (an assessor re-checks a sampled evaluation with both)."""
    parts = [f"{name}={digest}" for name, digest in sorted(e.artifacts.items())]
    for key in ("judge", "sample"):
        value = e.details.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            parts.append(f"{key}={fmt_value(value)}")
    return "; ".join(parts)


def _roles(counts: Mapping[str, int], words: Mapping[str, str]) -> str:
    return ", ".join(f"{term(words, 'role', role)} ×{count}" for role, count in counts.items())


def _approvals_line(verdict: ClauseVerdict, words: Mapping[str, str]) -> str:
    if not verdict.required_approvals:
        return words["no_approvals"]
    line = words["required"].format(roles=_roles(verdict.required_approvals, words))
    if verdict.missing_approvals:
        line += words["semicolon"] + words["missing"].format(
            roles=_roles(verdict.missing_approvals, words)
        )
    return line


def _approval_blocks(
    approved: Sequence[ApprovalRequestPublic], words: Mapping[str, str]
) -> tuple[Block, ...]:
    rows: list[tuple[str, ...]] = []
    for request in approved:
        rows += [
            (
                request.id,
                term(words, "stage", request.target_stage),
                d.actor,
                term(words, "role", d.role),
                term(words, "decision", d.decision),
                d.comment,
            )
            for d in request.decisions
        ]
    columns = ("request", "stage", "reviewer", "role", "decision", "comment")
    return (Table(columns=tuple(words[c] for c in columns), rows=tuple(rows)),) if rows else ()


__all__ = ["PackReport", "PackReportSource", "build_pack_document", "render_pack_report"]
