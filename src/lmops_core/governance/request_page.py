"""One request and what its review page shows beside it, read in a few plain statements.

The console's request page is opened by every reviewer of every request, so it
is read with SQLAlchemy Core statements built and compiled once, run on the
connection's DB-API cursor (:mod:`lmops_core.registry.prepared`: no ORM objects,
no execution context per statement): the request and its decisions, the version with its
asset, the version now in the target stage, the evidence of both, whether any
lineage touches the version, and the request's audit events. What it returns
is what :meth:`RequestViews.get_request`, :meth:`Workspace.evidence` and
:meth:`Workspace.audit_events` return for the same request (tested so).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, select
from sqlalchemy.engine import Connection

from lmops_core.audit.chain import canonical_json
from lmops_core.errors import NotFoundError
from lmops_core.governance.decisions import check_target_stage
from lmops_core.governance.models import ApprovalDecision, ApprovalRequest
from lmops_core.governance.policy_facts import GOVERNANCE_KINDS
from lmops_core.governance.request_reads import LIKELY_TYPE, request_version_id
from lmops_core.governance.request_reads import REQUESTS as _REQUESTS
from lmops_core.governance.schemas import ApprovalRequestDetail
from lmops_core.governance.views import public_fields
from lmops_core.redaction import redact
from lmops_core.registry import store
from lmops_core.registry.models import AuditEvent, Evidence, LineageEdge
from lmops_core.registry.prepared import PreparedSelect, Record, read_all
from lmops_core.registry.schemas import AuditEventPublic, EvidencePublic


@dataclass(frozen=True)
class PageVersion:
    """The version a request is about, as its page shows it."""

    ref: str
    name: str
    version: int
    digest: str
    stage: str | None
    status: str
    created_at: datetime
    created_by: str
    #: The asset's risk tier (None for asset types without one).
    risk_tier: str | None


@dataclass(frozen=True)
class RequestPage:
    """A request, its version and evidence, whether it has lineage, and its audit trail."""

    request: ApprovalRequestDetail
    version: PageVersion
    evidence: list[EvidencePublic]
    has_parents: bool
    has_children: bool
    #: The request's audit events in chain order (None when not asked for).
    audit: list[AuditEventPublic] | None


_REQUEST = PreparedSelect(
    select(ApprovalRequest.__table__).where(  # type: ignore[attr-defined]
        ApprovalRequest.__table__.c.id == bindparam("id")  # type: ignore[attr-defined]
    )
)
_DECISIONS = PreparedSelect(
    select(ApprovalDecision.__table__)  # type: ignore[attr-defined]
    .where(ApprovalDecision.__table__.c.request_id == bindparam("id"))  # type: ignore[attr-defined]
    .order_by(ApprovalDecision.__table__.c.id)  # type: ignore[attr-defined]
)
_EVIDENCE = Evidence.__table__  # type: ignore[attr-defined]
_EDGES = LineageEdge.__table__  # type: ignore[attr-defined]
_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]


def _audit_select(subject: Any) -> PreparedSelect:
    """A request's events: ``subject`` (its ref) is the indexed subject, its id is in the
    JSON body (the ``pattern`` parameter); at most ``limit``, in chain order."""
    return PreparedSelect(
        select(_EVENTS)
        .where(_EVENTS.c.subject == subject)
        .where(_EVENTS.c.after.like(bindparam("pattern"), escape="\\"))
        .order_by(_EVENTS.c.seq)
        .limit(bindparam("limit"))
    )


_AUDIT = _audit_select(bindparam("subject"))
#: The page's audit read with the request's own ref as subject (a subquery), so that it
#: can be sent before the request is read.
_AUDIT_BY_REQUEST = _audit_select(
    select(_REQUESTS.c.ref).where(_REQUESTS.c.id == bindparam("request")).scalar_subquery()
)


def _keys(asset_type: str, by_request: bool) -> tuple[Any, Any]:
    """The version id and target stage a version read is for: bound parameters (``id``,
    ``stage``), or read from request ``request`` of ``asset_type`` by subqueries."""
    if not by_request:
        return bindparam("id"), bindparam("stage")
    return (
        request_version_id(asset_type, "request"),
        select(_REQUESTS.c.target_stage)
        .where(_REQUESTS.c.id == bindparam("request"))
        .scalar_subquery(),
    )


#: What :class:`PageVersion` copies from the version's row.
_VERSION_COLUMNS = ("version", "digest", "stage", "status", "created_at", "created_by")


#: Labels of the stage holder's columns in the version query.
_HOLDER_ID, _HOLDER_VERSION, _HOLDER_DIGEST = "holder_id", "holder_version", "holder_digest"


@functools.cache
def _version_query(asset_type: str, by_request: bool = False) -> PreparedSelect:
    """For one asset type, one statement: a version with its asset's name and risk tier,
    the other version of that asset now in a stage (outer-joined: none is fine), and
    whether any lineage edge names the version as child or as parent (the version and
    stage: see :func:`_keys`)."""
    version_id, stage = _keys(asset_type, by_request)
    asset_cls, version_cls, fk = store.asset_classes(asset_type)
    assets, versions = asset_cls.__table__, version_cls.__table__
    holder = versions.alias("holder")
    columns = [
        versions,
        assets.c.name.label("asset_name"),
        holder.c.id.label(_HOLDER_ID),
        holder.c.version.label(_HOLDER_VERSION),
        holder.c.digest.label(_HOLDER_DIGEST),
        exists()
        .where(_EDGES.c.child_type == asset_type, _EDGES.c.child_id == versions.c.id)
        .label("has_parents"),
        exists()
        .where(_EDGES.c.parent_type == asset_type, _EDGES.c.parent_id == versions.c.id)
        .label("has_children"),
    ]
    if "risk_tier" in assets.c:
        columns.append(assets.c.risk_tier.label("asset_risk_tier"))
    return PreparedSelect(
        select(*columns)
        .join(assets, assets.c.id == versions.c[fk])
        .outerjoin(
            holder,
            (holder.c[fk] == versions.c[fk])
            & (holder.c.stage == stage)
            & (holder.c.id != versions.c.id),
        )
        .where(versions.c.id == version_id)
        # One stage holds one version of an asset; should two ever claim it, the lowest id
        # is shown, the same one on every read.
        .order_by(holder.c.id)
        .limit(1)
    )


@functools.cache
def _evidence_query(asset_type: str, by_request: bool = False) -> PreparedSelect:
    """For one asset type, the evidence of a version and of the other version of its
    asset now in a stage (the holder :func:`_version_query` joins: the lowest id), oldest
    first; found by subqueries, so it is sent with the version's own read."""
    version_id, stage = _keys(asset_type, by_request)
    _, version_cls, fk = store.asset_classes(asset_type)
    versions = version_cls.__table__
    holder = versions.alias("holder")
    asset_id = select(versions.c[fk]).where(versions.c.id == version_id).scalar_subquery()
    holder_id = (
        select(holder.c.id)
        .where(
            holder.c[fk] == asset_id,
            holder.c.stage == stage,
            holder.c.id != version_id,
        )
        .order_by(holder.c.id)
        .limit(1)
        .scalar_subquery()
    )
    return PreparedSelect(
        select(_EVIDENCE)
        .where(
            _EVIDENCE.c.subject_type == asset_type,
            _EVIDENCE.c.subject_id.in_([version_id, holder_id]),
        )
        .order_by(_EVIDENCE.c.id)
    )


def read_request_page(conn: Connection, request_id: str, *, audit_limit: int | None) -> RequestPage:
    """Request ``request_id`` with what its page shows, read on ``conn`` (one transaction
    for a consistent page); its audit events too unless ``audit_limit`` is None.

    Five statements: the request and its decisions, its version with the asset, the
    version now in the target stage and whether lineage touches it, the evidence of both
    versions, and the audit trail (when asked for). The last three find the version from
    the request (subqueries) as if it were a model version's, so all five go out in one
    batch (:func:`read_all`: on PostgreSQL one round trip, after the transaction's
    ``BEGIN``); for another asset type those three answer nothing and are read again
    for its type, in a second batch.
    """
    likely = LIKELY_TYPE
    reads: list[tuple[PreparedSelect, Mapping[str, Any]]] = [
        (_REQUEST, {"id": request_id}),
        (_DECISIONS, {"id": request_id}),
        (_version_query(likely, True), {"request": request_id}),
        (_evidence_query(likely, True), {"request": request_id}),
    ]
    if audit_limit is not None:
        trail = {"request": request_id, **_audit_params(request_id, audit_limit)}
        reads.append((_AUDIT_BY_REQUEST, trail))
    req_rows, decisions, found, evidence, *audit_rows = read_all(conn, reads)
    if not req_rows:
        raise NotFoundError(f"approval request {request_id!r} does not exist")
    req = req_rows[0]
    typ = req.asset_type
    stage = check_target_stage(req.target_stage, field="target_stage")
    if typ != likely:
        params = {"id": req.version_id, "stage": stage}
        reads = [(_version_query(typ), params), (_evidence_query(typ), params)]
        if audit_limit is not None:
            # The request's ref is its version's (the audit subject), checked below.
            trail = {"subject": req.ref, **_audit_params(request_id, audit_limit)}
            reads.append((_AUDIT, trail))
        found, evidence, *audit_rows = read_all(conn, reads)
    if not found:
        raise NotFoundError(f"{typ} version id {req.version_id} does not exist")
    row = found[0]
    holder_id = row[_HOLDER_ID]
    records: list[Record] = []
    theirs: list[Record] = []
    for e in evidence:
        (records if e["subject_id"] == row["id"] else theirs).append(e)
    current = None
    if holder_id is not None:
        current = {
            "ref": store.version_ref(typ, row["asset_name"], row[_HOLDER_VERSION]),
            "digest": row[_HOLDER_DIGEST],
            "evidence": {
                e["kind"]: e["metrics"] for e in theirs if e["kind"] not in GOVERNANCE_KINDS
            },
        }
    detail = ApprovalRequestDetail(
        **public_fields(req, decisions),
        evaluation=req.evaluation,
        evidence=[
            {name: e[name] for name in ("kind", "metrics", "digest", "plugin", "created_at")}
            for e in records
        ],
        current_in_stage=current,
    )
    ref = store.version_ref(typ, row["asset_name"], row["version"])
    audit = None
    if audit_limit is not None:
        if ref != req.ref:  # never so today (a request names its version by its ref)
            trail = {"subject": ref, **_audit_params(request_id, audit_limit)}
            audit_rows = [_AUDIT.rows(conn, trail)]
        audit = _audit_public(audit_rows[0])
    return RequestPage(
        request=detail,
        version=PageVersion(
            ref=ref,
            name=row["asset_name"],
            risk_tier=row.get("asset_risk_tier"),
            **{name: row[name] for name in _VERSION_COLUMNS},
        ),
        evidence=evidence_public(ref, records),
        has_parents=bool(row["has_parents"]),
        has_children=bool(row["has_children"]),
        audit=audit,
    )


def evidence_public(subject: str, records: Sequence[Mapping[str, Any]]) -> list[EvidencePublic]:
    """Evidence rows of the version ``subject`` as the SDK shows them (secrets redacted)."""
    skip = ("subject_type", "subject_id")
    return [
        EvidencePublic(subject=subject, **redact({k: v for k, v in e.items() if k not in skip}))
        for e in records
    ]


def _audit_params(request_id: str, limit: int) -> dict[str, Any]:
    """The audit read's parameters but its subject: at most ``limit`` events that name
    ``request_id``."""
    # Event bodies are stored as canonical JSON: the pair reads the same in each.
    pair = canonical_json({"request_id": request_id})[1:-1]
    escaped = pair.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return {"pattern": f"%{escaped}%", "limit": limit}


def _audit_public(rows: Sequence[Record]) -> list[AuditEventPublic]:
    return [
        AuditEventPublic(
            seq=e.seq,
            ts=e.ts,
            actor=e.actor,
            action=e.action,
            subject=e.subject,
            before=redact(json.loads(e.before)),
            after=redact(json.loads(e.after)),
            hash=e.hash,
        )
        for e in rows
    ]


__all__ = ["PageVersion", "RequestPage", "evidence_public", "read_request_page"]
