"""One request and what its review page shows beside it, read in a few plain statements.

The console's request page is opened by every reviewer of every request, so it
is read with SQLAlchemy Core statements built once (no ORM objects, no
statement built per call): the request and its decisions, the version with its
asset, the version now in the target stage, the evidence of both, whether any
lineage touches the version, and the request's audit events. What it returns
is what :meth:`RequestViews.get_request`, :meth:`Workspace.evidence` and
:meth:`Workspace.audit_events` return for the same request (tested so).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, exists, select
from sqlalchemy.engine import Connection, RowMapping

from lmops_core.audit.chain import canonical_json
from lmops_core.errors import NotFoundError
from lmops_core.governance.decisions import check_target_stage
from lmops_core.governance.models import ApprovalDecision, ApprovalRequest
from lmops_core.governance.policy_facts import GOVERNANCE_KINDS
from lmops_core.governance.schemas import ApprovalRequestDetail
from lmops_core.governance.views import public_fields
from lmops_core.redaction import redact
from lmops_core.registry import store
from lmops_core.registry.models import AuditEvent, Evidence, LineageEdge
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


_REQUEST = select(ApprovalRequest.__table__).where(  # type: ignore[attr-defined]
    ApprovalRequest.__table__.c.id == bindparam("id")  # type: ignore[attr-defined]
)
_DECISIONS = (
    select(ApprovalDecision.__table__)  # type: ignore[attr-defined]
    .where(ApprovalDecision.__table__.c.request_id == bindparam("id"))  # type: ignore[attr-defined]
    .order_by(ApprovalDecision.__table__.c.id)  # type: ignore[attr-defined]
)
_EVIDENCE = Evidence.__table__  # type: ignore[attr-defined]
_EVIDENCE_OF = (
    select(_EVIDENCE)
    .where(_EVIDENCE.c.subject_type == bindparam("typ"), _EVIDENCE.c.subject_id == bindparam("id"))
    .order_by(_EVIDENCE.c.id)
)
_EDGES = LineageEdge.__table__  # type: ignore[attr-defined]
_LINEAGE = select(
    exists().where(_EDGES.c.child_type == bindparam("typ"), _EDGES.c.child_id == bindparam("id")),
    exists().where(_EDGES.c.parent_type == bindparam("typ"), _EDGES.c.parent_id == bindparam("id")),
)
_EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
#: A request's events: its ref is the (indexed) subject, its id is in the JSON body.
_AUDIT = (
    select(_EVENTS)
    .where(_EVENTS.c.subject == bindparam("subject"))
    .where(_EVENTS.c.after.like(bindparam("pattern"), escape="\\"))
    .order_by(_EVENTS.c.seq)
    .limit(bindparam("limit"))
)


#: What :class:`PageVersion` copies from the version's row.
_VERSION_COLUMNS = ("version", "digest", "stage", "status", "created_at", "created_by")


@functools.cache
def _version_queries(asset_type: str) -> tuple[Select[Any], Select[Any]]:
    """For one asset type: a version with its asset's name, id and risk tier; and the
    version of an asset in a stage."""
    asset_cls, version_cls, fk = store.asset_classes(asset_type)
    assets, versions = asset_cls.__table__, version_cls.__table__
    tier = assets.c.risk_tier if "risk_tier" in assets.c else None
    columns = [versions, assets.c.name.label("asset_name")]
    if tier is not None:
        columns.append(tier.label("asset_risk_tier"))
    version = (
        select(*columns)
        .join(assets, assets.c.id == versions.c[fk])
        .where(versions.c.id == bindparam("id"))
    )
    holder = select(versions).where(
        versions.c[fk] == bindparam("asset_id"), versions.c.stage == bindparam("stage")
    )
    return version, holder


def read_request_page(conn: Connection, request_id: str, *, audit_limit: int | None) -> RequestPage:
    """Request ``request_id`` with what its page shows, read on ``conn`` (one transaction
    for a consistent page); its audit events too unless ``audit_limit`` is None."""
    req = conn.execute(_REQUEST, {"id": request_id}).first()
    if req is None:
        raise NotFoundError(f"approval request {request_id!r} does not exist")
    typ = req.asset_type
    version_query, holder_query = _version_queries(typ)
    row = conn.execute(version_query, {"id": req.version_id}).mappings().first()
    if row is None:
        raise NotFoundError(f"{typ} version id {req.version_id} does not exist")
    fk = store.asset_classes(typ)[2]
    stage = check_target_stage(req.target_stage, field="target_stage")
    holder = conn.execute(holder_query, {"asset_id": row[fk], "stage": stage}).first()
    current = None
    if holder is not None and holder.id != row["id"]:
        current = {
            "ref": store.version_ref(typ, row["asset_name"], holder.version),
            "digest": holder.digest,
            "evidence": {
                e.kind: e.metrics
                for e in conn.execute(_EVIDENCE_OF, {"typ": typ, "id": holder.id})
                if e.kind not in GOVERNANCE_KINDS
            },
        }
    records = conn.execute(_EVIDENCE_OF, {"typ": typ, "id": row["id"]}).mappings().all()
    decisions = conn.execute(_DECISIONS, {"id": request_id}).all()
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
    has_parents, has_children = conn.execute(_LINEAGE, {"typ": typ, "id": row["id"]}).one()
    return RequestPage(
        request=detail,
        version=PageVersion(
            ref=ref,
            name=row["asset_name"],
            risk_tier=row.get("asset_risk_tier"),
            **{name: row[name] for name in _VERSION_COLUMNS},
        ),
        evidence=evidence_public(ref, records),
        has_parents=bool(has_parents),
        has_children=bool(has_children),
        audit=None if audit_limit is None else _audit(conn, ref, request_id, audit_limit),
    )


def evidence_public(subject: str, records: Sequence[RowMapping]) -> list[EvidencePublic]:
    """Evidence rows of the version ``subject`` as the SDK shows them (secrets redacted)."""
    skip = ("subject_type", "subject_id")
    return [
        EvidencePublic(subject=subject, **redact({k: v for k, v in e.items() if k not in skip}))
        for e in records
    ]


def _audit(conn: Connection, subject: str, request_id: str, limit: int) -> list[AuditEventPublic]:
    # Event bodies are stored as canonical JSON: the pair reads the same in each.
    pair = canonical_json({"request_id": request_id})[1:-1]
    escaped = pair.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(_AUDIT, {"subject": subject, "pattern": f"%{escaped}%", "limit": limit})
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
