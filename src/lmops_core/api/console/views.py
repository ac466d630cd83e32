"""What each console page shows, read through the workspace facade as the signed-in user.

Pure reading: every function takes the workspace acting as the caller and the
caller's principal and returns plain values for the templates. Who may decide
what follows the governance service's own rules (roles still missing,
separation of duties); the service checks them again when a decision is made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import quote

from markupsafe import Markup, escape
from sqlalchemy.engine import Connection

from lmops_core.api.console.render import PREFIX
from lmops_core.api.security import AUDITORS
from lmops_core.contracts import AssetType, EvidenceKind
from lmops_core.errors import NotFoundError, ValidationError
from lmops_core.evidence_summary import format_value, headline_metrics
from lmops_core.governance.decisions import REVALIDATION_REQUIRED, check_target_stage
from lmops_core.governance.monitoring import open_breaches
from lmops_core.governance.request_page import PageVersion, read_request_page
from lmops_core.governance.schemas import (
    ApprovalRequestDetail,
    ApprovalRequestPublic,
    DecisionPublic,
    Principal,
)
from lmops_core.governance.views import QueuedRequest
from lmops_core.registry.models import utcnow
from lmops_core.registry.names import ASSET_TYPES
from lmops_core.registry.schemas import (
    AssetPublic,
    AuditEventPublic,
    EvidencePublic,
    LineageEdgePublic,
    PromptVersionPublic,
    VersionPublic,
)
from lmops_core.reports.blocks import measured_values
from lmops_core.reports.sections import lineage_of
from lmops_core.reports.svg import lineage_graph
from lmops_core.workspace import Workspace

#: Requests one inbox page lists.
INBOX_PAGE = 50
#: The inventory's sections, in the order a risk function reads them.
INVENTORY_ORDER: tuple[AssetType, ...] = ("model", "dataset", "prompt", "suite", "guard")
#: Most audit events the request page lists.
AUDIT_LIMIT = 200


def duration(delta: timedelta) -> str:
    """A short human duration: ``3d 4h``, ``2h 5m``, ``12m``, ``under a minute``."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return "under a minute" if seconds >= 0 else "past"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes}m" if hours else f"{minutes}m"


def missing_approvals(req: ApprovalRequestPublic | QueuedRequest) -> dict[str, int]:
    """``{role: approvals still needed}`` of a request (roles already satisfied left out)."""
    return {
        role: need - req.approvals_so_far.get(role, 0)
        for role, need in req.required_approvals.items()
        if need > req.approvals_so_far.get(role, 0)
    }


def deciding_roles(
    req: ApprovalRequestPublic | QueuedRequest, principal: Principal, author: str | None
) -> list[str]:
    """The roles ``principal`` may decide ``req`` as: missing ones it holds, unless it
    requested the promotion or authored the version (separation of duties)."""
    if req.status != "pending":
        return []
    if req.separation_of_duties and principal.user in (req.requested_by, author):
        return []
    return [role for role in missing_approvals(req) if role in principal.roles]


# -- inbox ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxRow:
    """One pending request as the inbox lists it.

    The ``*_text`` fields are the cells as written, composed here once rather than by
    loops and filters in the template: an inbox page has fifty rows.
    """

    request: QueuedRequest
    asset: str
    version: int | None
    risk_tier: str
    age: str
    time_left: str
    missing: dict[str, int]
    my_roles: list[str]
    #: The request id as one URL path segment.
    link: str
    missing_text: str
    roles_text: str


@dataclass(frozen=True)
class InboxQueue:
    """The pending requests one reader's inbox lists, before paging: each with the roles
    the reader may decide it as."""

    chosen: list[tuple[QueuedRequest, list[str]]]
    scope: str
    asset_type: str
    target_stage: str
    stages: list[str]
    can_review: bool
    total_pending: int


@dataclass(frozen=True)
class Inbox(InboxQueue):
    """One inbox page: its rows oldest first, the counts, the filters and their choices."""

    rows: list[InboxRow]
    total: int
    page: int
    pages: int
    #: The rows as the table's HTML (:func:`inbox_rows_html`).
    rows_html: Markup = Markup("")

    @property
    def first(self) -> int:
        """The position of the page's first row in the whole list (1-based; 0 when empty)."""
        return (self.page - 1) * INBOX_PAGE + 1 if self.rows else 0

    @property
    def last(self) -> int:
        """The position of the page's last row in the whole list."""
        return (self.page - 1) * INBOX_PAGE + len(self.rows)


def inbox_queue(
    queue: Sequence[QueuedRequest],
    principal: Principal,
    *,
    scope: str | None,
    asset_type: str,
    target_stage: str,
) -> InboxQueue:
    """The requests of ``queue`` (pending, oldest first) ``principal``'s inbox lists:
    ``scope`` ``mine`` keeps those it may decide, ``all`` keeps every one."""
    can_review = bool(principal.roles & {"validator", "risk_officer", "data_steward", "admin"})
    scope = scope if scope in ("mine", "all") else ("mine" if can_review else "all")
    chosen = []
    for req in queue:
        mine = deciding_roles(req, principal, req.author)
        if mine or scope == "all":
            chosen.append((req, mine))
    return InboxQueue(
        chosen=chosen,
        scope=scope,
        asset_type=asset_type,
        target_stage=target_stage,
        stages=sorted({r.target_stage for r in queue} | ({target_stage} - {""})),
        can_review=can_review,
        total_pending=len(queue),
    )


def inbox_page(listed: InboxQueue, page: int) -> Inbox:
    """Page ``page`` (1-based; past the end: the last page) of an inbox, dressed for display."""
    pages = max(1, -(-len(listed.chosen) // INBOX_PAGE))
    page = min(max(1, page), pages)
    now = utcnow()
    rows = []
    # Rows share their texts (the same approvals missing, the same roles): composed once.
    missing_texts: dict[tuple[tuple[str, int], ...], str] = {}
    roles_texts: dict[tuple[str, ...], str] = {}
    for req, mine in listed.chosen[(page - 1) * INBOX_PAGE : page * INBOX_PAGE]:
        missing = missing_approvals(req)
        key = tuple(missing.items())
        missing_text = missing_texts.get(key)
        if missing_text is None:
            missing_text = missing_texts[key] = (
                ", ".join(f"{role} ×{n}" for role, n in key) or "none"
            )
        held = tuple(mine)
        roles_text = roles_texts.get(held)
        if roles_text is None:
            roles_text = roles_texts[held] = ", ".join(held) or "— (read only)"
        rid = req.id
        rows.append(
            InboxRow(
                request=req,
                asset=req.name,
                version=req.version,
                risk_tier=req.risk_tier or "-",
                age=duration(now - req.created_at),
                time_left=duration(req.expires_at - now),
                missing=missing,
                my_roles=mine,
                # Request ids are hex: nothing to quote (others are quoted).
                link=rid if rid.isascii() and rid.isalnum() else quote(rid, safe=""),
                missing_text=missing_text,
                roles_text=roles_text,
            )
        )
    return Inbox(
        **{f.name: getattr(listed, f.name) for f in fields(InboxQueue)},
        rows=rows,
        rows_html=inbox_rows_html(rows),
        total=len(listed.chosen),
        page=page,
        pages=pages,
    )


def inbox_rows_html(rows: Sequence[InboxRow]) -> Markup:
    """The inbox table's rows as HTML, every value escaped as the template would.

    Written here in one pass instead of a template loop: Jinja's attribute lookups and
    escaping of fifty rows of nine cells were most of a fresh inbox page's time. Most
    cells repeat from row to row (stages, users, ages, roles), so each text is escaped once.
    """
    escaped: dict[str, str] = {}

    def e(text: str) -> str:
        out = escaped.get(text)
        if out is None:
            out = escaped[text] = str(escape(text))
        return out

    out = []
    for row in rows:
        req = row.request
        tier = e(row.risk_tier)
        version = row.version
        # Left as they are, since escaping leaves them so: the link (percent-quoted: no
        # markup character), ages and times left (digits, letters, spaces), version numbers.
        out.append(
            f'<tr class="{"actionable" if row.my_roles else "readonly"}">\n'
            f'  <td><a href="{PREFIX}/requests/{row.link}">'
            f"{e(req.asset_type)} {e(row.asset)}</a></td>\n"
            f"  <td>{version if type(version) is int else escape(version)}</td>\n"
            f'  <td><span class="tier tier-{tier}">{tier}</span></td>\n'
            f"  <td>{e(req.target_stage)}</td>\n"
            f"  <td>{e(req.requested_by)}</td>\n"
            f"  <td>{row.age}</td>\n"
            f"  <td>{row.time_left}</td>\n"
            f"  <td>{e(row.missing_text)}</td>\n"
            f"  <td>{e(row.roles_text)}</td>\n"
            "</tr>\n"
        )
    return Markup("".join(out))


def inbox(
    ws: Workspace,
    principal: Principal,
    *,
    scope: str | None,
    asset_type: str,
    target_stage: str,
    page: int = 1,
) -> Inbox:
    """Page ``page`` of the pending requests, oldest first; ``scope`` ``mine`` keeps those
    the caller may decide. The whole queue is read at once (a light row per request) so
    the counts and pages are exact; only the page's rows are dressed for display."""
    queue = ws.governance.pending_queue(
        asset_type=asset_type or None,
        target_stage=check_target_stage(target_stage, field="target_stage")
        if target_stage
        else None,
    )
    listed = inbox_queue(
        queue, principal, scope=scope, asset_type=asset_type, target_stage=target_stage
    )
    return inbox_page(listed, page)


# -- request page -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeRow:
    """One rule outcome of the frozen evaluation, with the measured values it reads."""

    rule: str
    policy: str
    check: str
    condition: str
    status: str
    blocking: bool
    message: str
    expression: str
    measured: str


@dataclass(frozen=True)
class EvidenceRow:
    """One evidence record: its headline metrics and its artifacts."""

    record: EvidencePublic
    headline: list[tuple[str, str]]
    artifacts: list[str]


@dataclass(frozen=True)
class Comparison:
    """One metric of this version beside the version now in the target stage."""

    kind: str
    metric: str
    this: str
    current: str
    verdict: str


@dataclass(frozen=True)
class AuditRow:
    """One audit event about the request, with what its body says beside the request id."""

    event: AuditEventPublic
    detail: str


def audit_rows(events: Iterable[AuditEventPublic]) -> list[AuditRow]:
    """The request's events, each with its body's fields (role, comment, stage...) in words."""
    rows = []
    for event in events:
        after = event.after if isinstance(event.after, Mapping) else {}
        detail = "; ".join(
            f"{key}: {format_value(value)}"
            for key, value in sorted(after.items())
            if key != "request_id" and value is not None and not isinstance(value, Mapping)
        )
        rows.append(AuditRow(event=event, detail=detail))
    return rows


@dataclass(frozen=True)
class RequestView:
    """Everything the request page shows."""

    request: ApprovalRequestDetail
    version: PageVersion
    risk_tier: str
    outcomes: list[OutcomeRow]
    evidence: list[EvidenceRow]
    current_ref: str | None
    comparison: list[Comparison]
    lineage: list[LineageEdgePublic]
    lineage_svg: str
    decisions: list[DecisionPublic]
    audit: list[AuditRow] | None
    deciding_roles: list[str]
    missing: dict[str, int]
    why_not: str
    time_left: str
    has_report: bool = field(default=False)
    #: For a prompt version: its template, system prompt and target model.
    prompt: PromptVersionPublic | None = field(default=None)


def _latest(records: Sequence[EvidencePublic]) -> dict[str, EvidencePublic]:
    out: dict[str, EvidencePublic] = {}
    for record in sorted(records, key=lambda e: (e.created_at, e.id)):
        out[record.kind] = record
    return out


def _outcomes(
    evaluation: Mapping[str, Any], latest: Mapping[str, EvidencePublic]
) -> list[OutcomeRow]:
    metrics_of = {kind: record.metrics for kind, record in latest.items()}
    return [
        OutcomeRow(
            rule=str(o.get("rule", "")),
            policy=str(o.get("policy", "")),
            check=str(o.get("check", "")),
            condition=str(o.get("condition", "")),
            status=str(o.get("status", "")),
            blocking=bool(o.get("blocking")),
            message=str(o.get("message") or ""),
            expression=str(o.get("expression") or ""),
            measured=measured_values(o.get("expression"), metrics_of),
        )
        for o in evaluation.get("outcomes", [])
    ]


def evidence_rows(
    records: Sequence[EvidencePublic], kinds: Mapping[str, EvidenceKind]
) -> list[EvidenceRow]:
    """Evidence newest first, each with its kind's headline metrics."""
    return [
        EvidenceRow(
            record=e,
            headline=[
                (name, format_value(value))
                for name, value in headline_metrics(kinds.get(e.kind), e.metrics)
            ],
            artifacts=sorted(e.artifacts),
        )
        for e in sorted(records, key=lambda e: (e.created_at, e.id), reverse=True)
    ]


def _compare(
    latest: Mapping[str, EvidencePublic],
    current: Mapping[str, Any],
    kinds: Mapping[str, EvidenceKind],
) -> list[Comparison]:
    rows = []
    for kind in sorted(set(latest) & set(current)):
        theirs: Mapping[str, Any] = current[kind] or {}
        declared = kinds.get(kind)
        for metric, mine in headline_metrics(declared, latest[kind].metrics):
            other = theirs.get(metric)
            direction = (
                declared.metrics[metric].direction
                if declared is not None and metric in declared.metrics
                else "none"
            )
            rows.append(
                Comparison(
                    kind=kind,
                    metric=metric,
                    this=format_value(mine),
                    current=format_value(other) if other is not None else "-",
                    verdict=_verdict(mine, other, direction),
                )
            )
    return rows


def _verdict(mine: Any, other: Any, direction: str) -> str:
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (mine, other))
    if not numeric or mine == other:
        return "same" if mine == other else "-"
    if direction == "none":
        return "changed"
    higher = mine > other
    return "better" if higher == (direction == "higher") else "worse"


def request_view(ws: Workspace, principal: Principal, request_id: str) -> RequestView:
    """The request page of ``request_id`` as ``principal`` sees it (read in one snapshot)."""
    with ws.db.snapshot_connection() as conn:
        return _request_view(ws, conn, principal, request_id)


def _request_view(
    ws: Workspace, conn: Connection, principal: Principal, request_id: str
) -> RequestView:
    # The page's reads in a few plain statements (lmops_core.governance.request_page);
    # the lineage walk only for the versions that have lineage.
    read = read_request_page(
        conn, request_id, audit_limit=AUDIT_LIMIT if principal.roles & AUDITORS.roles else None
    )
    detail, version, records = read.request, read.version, read.evidence
    latest = _latest(records)
    kinds = ws.plugins.declared_kinds()
    current = detail.current_in_stage or {}
    roles = deciding_roles(detail, principal, version.created_by)
    ancestors = ws.lineage(detail.ref, direction="up") if read.has_parents else []
    descendants = ws.lineage(detail.ref, direction="down") if read.has_children else []
    audit = None if read.audit is None else audit_rows(read.audit)
    return RequestView(
        request=detail,
        version=version,
        risk_tier=version.risk_tier or "-",
        outcomes=_outcomes(detail.evaluation, latest),
        evidence=evidence_rows(records, kinds),
        current_ref=current.get("ref"),
        comparison=_compare(latest, current.get("evidence") or {}, kinds),
        lineage=ancestors,
        lineage_svg=_drawing(detail.ref, ancestors, descendants),
        decisions=sorted(detail.decisions, key=lambda d: d.created_at),
        audit=audit,
        deciding_roles=roles,
        missing=missing_approvals(detail),
        why_not=_why_not(detail, principal, version.created_by, roles),
        time_left=duration(detail.expires_at - utcnow()),
        has_report=detail.asset_type == "model",
        prompt=_prompt_of(ws, detail.ref) if detail.asset_type == "prompt" else None,
    )


def _prompt_of(ws: Workspace, ref: str) -> PromptVersionPublic:
    """The prompt version ``ref`` with its system prompt and target model (immutable, so
    reading it beside the page's snapshot shows the same version)."""
    version = ws.get(ref)
    if not isinstance(version, PromptVersionPublic):
        raise NotFoundError(f"{ref} is not a prompt version")
    return version


def _drawing(
    focus: str, ancestors: Sequence[LineageEdgePublic], descendants: Sequence[LineageEdgePublic]
) -> str:
    """The lineage graph as inline SVG (the report's drawing; '' with no lineage)."""
    if not ancestors and not descendants:
        return ""
    return lineage_graph(lineage_of(focus, ancestors, descendants))


def _why_not(
    req: ApprovalRequestPublic, principal: Principal, author: str, roles: list[str]
) -> str:
    """Why the caller sees no decision form ('' when it sees one)."""
    if roles:
        return ""
    if req.status != "pending":
        return f"This request is {req.status}; it can no longer be decided."
    if req.separation_of_duties and principal.user == req.requested_by:
        return "You requested this promotion, so you cannot decide it (separation of duties)."
    if req.separation_of_duties and principal.user == author:
        return "You authored this version, so you cannot decide it (separation of duties)."
    needed = ", ".join(missing_approvals(req)) or "none"
    return f"You hold none of the roles still needed ({needed}); you may read but not decide."


def artifact_digest(ws: Workspace, request_id: str, evidence_id: int, name: str) -> str:
    """The digest of artifact ``name`` of evidence ``evidence_id`` on the request's version."""
    detail = ws.governance.get_request(request_id)
    for record in ws.evidence(detail.ref):
        if record.id == evidence_id and name in record.artifacts:
            return record.artifacts[name]
    raise NotFoundError(f"evidence {evidence_id} of {detail.ref} has no artifact {name!r}")


# -- inventory and asset pages ----------------------------------------------------------------


@dataclass(frozen=True)
class VersionRow:
    """One version of an asset with its open requests."""

    version: VersionPublic
    open_requests: list[ApprovalRequestPublic]


@dataclass(frozen=True)
class Alert:
    """Something about an asset a reviewer should look at: what, and the version it is on."""

    kind: Literal["revalidation", "breach", "request"]
    ref: str
    text: str


@dataclass(frozen=True)
class AssetRow:
    """One asset with its versions, newest first, and its open alerts."""

    asset: AssetPublic
    versions: list[VersionRow]
    alerts: list[Alert] = field(default_factory=list)


def alerts_of(rows: Sequence[VersionRow], breaches: Mapping[str, list[str]]) -> list[Alert]:
    """An asset's alerts, newest version first: versions to revalidate, monitoring breaches
    still open (the latest check alerted) and pending requests."""
    alerts = []
    for row in rows:
        v = row.version
        if v.status == REVALIDATION_REQUIRED:
            alerts.append(Alert("revalidation", v.ref, f"@{v.version} revalidation required"))
        if v.ref in breaches:
            why = "; ".join(breaches[v.ref]) or "a monitoring rule failed"
            alerts.append(Alert("breach", v.ref, f"@{v.version} monitoring breach: {why}"))
        for req in row.open_requests:
            alerts.append(
                Alert("request", req.id, f"@{v.version} awaits approval to {req.target_stage}")
            )
    return alerts


def _rows(ws: Workspace, typ: str, assets: Sequence[AssetPublic]) -> list[AssetRow]:
    versions = {a.name: ws.list_versions(typ, a.name) for a in assets}  # type: ignore[arg-type]
    listed = [v for vs in versions.values() for v in vs]
    pending = ws.governance.pending_by_ref(typ, [v.ref for v in listed])
    # Only a version in a stage is monitored.
    breaches = open_breaches(ws, [v.ref for v in listed if v.stage is not None])
    out = []
    for a in sorted(assets, key=lambda a: a.name):
        rows = [
            VersionRow(version=v, open_requests=pending.get(v.ref, []))
            for v in sorted(versions[a.name], key=lambda v: v.version, reverse=True)
        ]
        out.append(AssetRow(asset=a, versions=rows, alerts=alerts_of(rows, breaches)))
    return out


def inventory(ws: Workspace) -> dict[str, list[AssetRow]]:
    """Every asset of every type (models first, then datasets, prompts, suites)."""
    return {typ: _rows(ws, typ, ws.list_assets(typ)) for typ in INVENTORY_ORDER}


@dataclass(frozen=True)
class AssetView:
    """An asset page: the asset, its versions, their evidence and lineage."""

    asset: AssetRow
    evidence: dict[str, list[EvidenceRow]]
    parents: dict[str, list[LineageEdgePublic]]
    children: dict[str, list[LineageEdgePublic]]


def asset_view(ws: Workspace, asset_type: str, name: str) -> AssetView:
    """The page of one model, dataset, prompt or suite."""
    if asset_type not in ASSET_TYPES:
        raise ValidationError(
            f"unknown asset type {asset_type!r} (expected one of {', '.join(ASSET_TYPES)})",
            field="asset_type",
        )
    asset = next((a for a in ws.list_assets(asset_type) if a.name == name), None)
    if asset is None:
        raise NotFoundError(f"{asset_type} {name!r} does not exist")
    [row] = _rows(ws, asset_type, [asset])
    kinds = ws.plugins.declared_kinds()
    refs = [v.version.ref for v in row.versions]
    return AssetView(
        asset=row,
        evidence={r: evidence_rows(ws.evidence(r), kinds) for r in refs},
        parents={r: ws.lineage(r, direction="up", depth=1) for r in refs},
        children={r: ws.lineage(r, direction="down", depth=1) for r in refs},
    )


__all__ = [
    "Alert",
    "AssetRow",
    "AuditRow",
    "AssetView",
    "Comparison",
    "EvidenceRow",
    "Inbox",
    "InboxQueue",
    "InboxRow",
    "OutcomeRow",
    "RequestView",
    "VersionRow",
    "artifact_digest",
    "alerts_of",
    "asset_view",
    "audit_rows",
    "deciding_roles",
    "duration",
    "evidence_rows",
    "inbox",
    "inbox_page",
    "inbox_queue",
    "inventory",
    "missing_approvals",
    "request_view",
]
