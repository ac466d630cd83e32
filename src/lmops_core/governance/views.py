"""Reading promotion requests: pages, pending requests by version, one request in detail.

Read-only: :class:`RequestViews` needs only the database. :func:`request_public`
is also how the workflow answers after it changed a request.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Text, bindparam, func, literal, select, type_coerce
from sqlalchemy.orm import QueryableAttribute, defer
from sqlmodel import Session, col

from lmops_core.errors import NotFoundError, ValidationError
from lmops_core.governance.decisions import check_target_stage
from lmops_core.governance.models import REQUEST_STATUSES, ApprovalDecision, ApprovalRequest
from lmops_core.governance.policy_facts import GOVERNANCE_KINDS, aware, stage_holder
from lmops_core.governance.schemas import (
    ApprovalRequestDetail,
    ApprovalRequestPublic,
    DecisionPublic,
    Page,
)
from lmops_core.registry import store
from lmops_core.registry.db import Database
from lmops_core.registry.names import ASSET_TYPES
from lmops_core.terms import GovernedStage
from lmops_core.validation import checked_public


def summaries() -> Select[ApprovalRequest]:
    """Requests without their frozen evaluation and evidence: only the detail view needs them."""
    # SQLModel types a column attribute as its value; on the class it is the mapped attribute.
    evaluation = cast("QueryableAttribute[Any]", ApprovalRequest.evaluation)
    evidence_digests = cast("QueryableAttribute[Any]", ApprovalRequest.evidence_digests)
    return select(ApprovalRequest).options(defer(evaluation), defer(evidence_digests))


#: Built once: every decision and every request read asks it.
_DECISIONS_OF = (
    select(ApprovalDecision)
    .where(col(ApprovalDecision.request_id).in_(bindparam("ids", expanding=True)))
    .order_by(col(ApprovalDecision.id))
)


def decisions_for(s: Session, ids: list[str]) -> dict[str, list[ApprovalDecision]]:
    """The decisions on each of the requests ``ids``, in the order they were made."""
    out: dict[str, list[ApprovalDecision]] = {}
    if ids:
        for d in s.execute(_DECISIONS_OF, {"ids": ids}).scalars():
            out.setdefault(d.request_id, []).append(d)
    return out


def request_public(
    s: Session, req: ApprovalRequest, decisions: list[ApprovalDecision] | None = None
) -> ApprovalRequestPublic:
    """A request as the SDK, the CLI and the API show it."""
    if decisions is None:
        decisions = decisions_for(s, [req.id]).get(req.id, [])
    return ApprovalRequestPublic(**public_fields(req, decisions))


def public_fields(req: Any, decisions: Sequence[Any]) -> dict[str, Any]:
    """The fields of :class:`ApprovalRequestPublic`: those of the request ``req`` and of its
    ``decisions`` (ORM objects or Core rows: read by attribute)."""
    approvals = Counter(d.role for d in decisions if d.decision == "approve")
    return {
        **{name: getattr(req, name) for name in _REQUEST_COLUMNS},
        "approvals_so_far": dict(approvals),
        "decisions": [DecisionPublic.model_validate(d, from_attributes=True) for d in decisions],
    }


#: What a request's public view copies from its row (the rest is read from its decisions).
_REQUEST_COLUMNS = tuple(
    name
    for name in ApprovalRequestPublic.model_fields
    if name not in ("approvals_so_far", "decisions")
)


@dataclass(frozen=True)
class QueuedRequest:
    """A pending request as a queue lists it: what it needs, who asked, who wrote the version.

    Lighter than :class:`ApprovalRequestPublic` (no digests, no decisions), so a whole
    queue of thousands can be read, filtered and paged at once. Requests with the same
    required approvals share one dict: read it, never change it.
    """

    id: str
    asset_type: str
    ref: str
    target_stage: str
    requested_by: str
    created_at: datetime
    expires_at: datetime
    required_approvals: dict[str, int]
    approvals_so_far: dict[str, int]
    separation_of_duties: bool
    author: str
    risk_tier: str | None
    #: The asset's name and the version's number (what ``ref`` names, read with it).
    name: str
    version: int
    status: str = "pending"


@functools.cache
def _subject_query(asset_type: str) -> Select[Any]:
    # Built once per asset type: every decision reads its subject with it.
    asset_cls, version_cls, fk = store.asset_classes(asset_type)
    return (
        select(version_cls, asset_cls)
        .join(asset_cls, getattr(version_cls, fk) == asset_cls.id)
        .where(version_cls.id == bindparam("version_id"))
    )


def request_subject(s: Session, req: ApprovalRequest) -> tuple[Any, Any]:
    """The asset and the version a request is about (one joined select), or
    ``NotFoundError``."""
    row = s.execute(_subject_query(req.asset_type), {"version_id": req.version_id}).first()
    if row is None:
        raise NotFoundError(f"{req.asset_type} version id {req.version_id} does not exist")
    version, asset = row
    return asset, version


@checked_public  # every argument checked before it nears the database (lmops_core.validation)
class RequestViews:
    """Promotion requests as read through one database."""

    def __init__(self, *, db: Database) -> None:
        self.db = db

    def list_requests(
        self,
        *,
        status: str | None = None,
        asset_type: str | None = None,
        target_stage: GovernedStage | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page:
        """A page of requests, newest first, filtered by status, asset type and stage."""
        limit = max(1, min(limit, 500))
        if status and status not in REQUEST_STATUSES:
            raise ValidationError(
                f"unknown request status {status!r} (expected one of "
                f"{', '.join(REQUEST_STATUSES)})",
                field="status",
            )
        with self.db.read() as s:
            q = summaries()
            if status:
                q = q.where(col(ApprovalRequest.status) == status)
            if asset_type:
                q = q.where(col(ApprovalRequest.asset_type) == asset_type)
            if target_stage:
                q = q.where(col(ApprovalRequest.target_stage) == target_stage)
            total = s.execute(select(func.count()).select_from(q.subquery())).scalar_one()
            rows = s.execute(
                q.order_by(col(ApprovalRequest.created_at).desc(), col(ApprovalRequest.id))
                .limit(limit)
                .offset(offset)
            ).scalars()
            reqs = list(rows)
            decisions = decisions_for(s, [r.id for r in reqs])
            return Page(
                items=[request_public(s, r, decisions.get(r.id, [])) for r in reqs],
                total=total,
                limit=limit,
                offset=offset,
            )

    def pending_queue(
        self, *, asset_type: str | None = None, target_stage: GovernedStage | None = None
    ) -> list[QueuedRequest]:
        """Every pending request, oldest first, with its approvals so far, the version's
        author and the asset's risk tier: three queries whatever the queue's length."""
        with self.db.read() as s:
            base = [col(ApprovalRequest.status) == "pending"]
            if asset_type:
                base.append(col(ApprovalRequest.asset_type) == asset_type)
            if target_stage:
                base.append(col(ApprovalRequest.target_stage) == target_stage)
            approvals: dict[str, dict[str, int]] = {}
            for rid, role, n in s.execute(
                select(col(ApprovalDecision.request_id), col(ApprovalDecision.role), func.count())
                .join(ApprovalRequest, col(ApprovalRequest.id) == ApprovalDecision.request_id)
                .where(*base, col(ApprovalDecision.decision) == "approve")
                .group_by(col(ApprovalDecision.request_id), col(ApprovalDecision.role))
            ):
                approvals.setdefault(rid, {})[role] = n
            out = []
            decoded: dict[str, dict[str, int]] = {}
            for typ in (asset_type,) if asset_type else ASSET_TYPES:
                asset_cls, version_cls, fk = store.asset_classes(typ)
                tier = getattr(asset_cls, "risk_tier", None)
                q = (
                    select(
                        col(ApprovalRequest.id),
                        col(ApprovalRequest.ref),
                        col(ApprovalRequest.target_stage),
                        col(ApprovalRequest.requested_by),
                        col(ApprovalRequest.created_at),
                        col(ApprovalRequest.expires_at),
                        # Raw text: thousands of rows share a handful of values, decoded once.
                        type_coerce(col(ApprovalRequest.required_approvals), Text),
                        col(ApprovalRequest.separation_of_duties),
                        version_cls.created_by,
                        tier if tier is not None else literal(None),
                        asset_cls.name,
                        version_cls.version,
                    )
                    .join(version_cls, version_cls.id == col(ApprovalRequest.version_id))
                    .join(asset_cls, asset_cls.id == getattr(version_cls, fk))
                    .where(*base, col(ApprovalRequest.asset_type) == typ)
                )
                # Core rows, not ORM ones: this loop runs once per pending request.
                for (
                    rid,
                    ref,
                    stage,
                    by,
                    created,
                    expires,
                    raw,
                    sod,
                    author,
                    risk,
                    name,
                    number,
                ) in s.connection().execute(q):
                    needs = decoded.get(raw) if isinstance(raw, str) else raw
                    if needs is None:
                        needs = decoded[raw] = json.loads(raw)
                    # Positional, in the field order of QueuedRequest.
                    out.append(
                        QueuedRequest(
                            rid, typ, ref, stage, by, aware(created), aware(expires), needs,
                            approvals.get(rid, {}), sod, author, risk, name, number,
                        )
                    )  # fmt: skip
        out.sort(key=lambda r: (r.created_at, r.id))
        return out

    def pending_by_ref(
        self, asset_type: str, refs: Sequence[str]
    ) -> dict[str, list[ApprovalRequestPublic]]:
        """The pending requests of the versions ``refs`` name, oldest first, by ref."""
        out: dict[str, list[ApprovalRequestPublic]] = {}
        if not refs:
            return out
        with self.db.read() as s:
            q = (
                summaries()
                .where(
                    col(ApprovalRequest.status) == "pending",
                    col(ApprovalRequest.asset_type) == asset_type,
                    col(ApprovalRequest.ref).in_(list(refs)),
                )
                .order_by(col(ApprovalRequest.created_at), col(ApprovalRequest.id))
            )
            reqs = list(s.execute(q).scalars())
            decisions = decisions_for(s, [r.id for r in reqs])
            for req in reqs:
                out.setdefault(req.ref, []).append(
                    request_public(s, req, decisions.get(req.id, []))
                )
        return out

    def approved_request(
        self, asset_type: str, ref: str, *, digest: str, stage: GovernedStage
    ) -> ApprovalRequestPublic | None:
        """The latest approved request that put exactly this content of ``ref`` into ``stage``.

        A direct query (by version, digest, stage and status), so the answer
        never depends on how many other requests exist.
        """
        with self.db.read() as s:
            q = (
                summaries()
                .where(
                    col(ApprovalRequest.asset_type) == asset_type,
                    col(ApprovalRequest.ref) == ref,
                    col(ApprovalRequest.version_digest) == digest,
                    col(ApprovalRequest.target_stage) == stage,
                    col(ApprovalRequest.status) == "approved",
                )
                .order_by(
                    col(ApprovalRequest.decided_at).desc(),
                    col(ApprovalRequest.created_at).desc(),
                    col(ApprovalRequest.id),
                )
                .limit(1)
            )
            req = s.execute(q).scalars().first()
            return request_public(s, req) if req is not None else None

    def get_request(self, request_id: str) -> ApprovalRequestDetail:
        """One request with its frozen evaluation, the evidence, and who holds the stage now."""
        with self.db.read() as s:
            req = s.get(ApprovalRequest, request_id)
            if req is None:
                raise NotFoundError(f"approval request {request_id!r} does not exist")
            asset, version = request_subject(s, req)
            holder = stage_holder(
                s, req.asset_type, asset, check_target_stage(req.target_stage, field="target_stage")
            )
            current = None
            if holder is not None and holder.id != version.id:
                current = {
                    "ref": store.ref_of(s, req.asset_type, holder),
                    "digest": holder.digest,
                    "evidence": {
                        e.kind: e.metrics
                        for e in store.list_evidence(s, req.asset_type, holder.id)
                        if e.kind not in GOVERNANCE_KINDS
                    },
                }
            evidence = [
                {
                    "kind": e.kind,
                    "metrics": e.metrics,
                    "digest": e.digest,
                    "plugin": e.plugin,
                    "created_at": e.created_at,
                }
                for e in store.list_evidence(s, req.asset_type, version.id)
            ]
            return ApprovalRequestDetail(
                **public_fields(req, decisions_for(s, [req.id]).get(req.id, [])),
                evaluation=req.evaluation,
                evidence=evidence,
                current_in_stage=current,
            )


__all__ = [
    "QueuedRequest",
    "RequestViews",
    "decisions_for",
    "public_fields",
    "request_public",
    "request_subject",
    "summaries",
]
