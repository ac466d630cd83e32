"""The audit log: read events, verify the chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from lmops_core.api.errors import ERROR_RESPONSES
from lmops_core.api.paths import scrub
from lmops_core.api.routes import Text
from lmops_core.api.security import AUDITORS, VERIFIERS, acting
from lmops_core.governance.schemas import Principal
from lmops_core.registry.schemas import AuditEventPublic
from lmops_core.validation import INT64_MAX

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], responses=ERROR_RESPONSES)


class VerifyReport(BaseModel):
    """The outcome of re-checking the whole chain and its signed head."""

    ok: bool
    events: int
    first_bad_seq: int | None
    reason: str
    summary: str


@router.get("/events", response_model=list[AuditEventPublic])
def audit_events(
    request: Request,
    principal: Annotated[Principal, Depends(AUDITORS)],
    subject: Annotated[Text | None, Query(max_length=256)] = None,
    action: Annotated[Text | None, Query(max_length=64)] = None,
    request_id: Annotated[
        Text | None,
        Query(max_length=64, description="Only events about this approval request"),
    ] = None,
    after: Annotated[
        int, Query(ge=0, le=INT64_MAX, description="Only events with seq > after")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditEventPublic]:
    """Events in chain order, filtered by subject, action and request; page with ``after``."""
    events = acting(request, principal).audit_events(
        subject=subject, action=action, request_id=request_id, after_seq=after, limit=limit
    )
    return list(scrub(request, events))


@router.post("/verify", response_model=VerifyReport)
def verify(request: Request, principal: Annotated[Principal, Depends(VERIFIERS)]) -> VerifyReport:
    """Re-check the chain. A broken chain is a finding, reported with ``ok: false`` (200)."""
    result = acting(request, principal).verify_audit()
    return VerifyReport(
        ok=result.ok,
        events=result.events,
        first_bad_seq=result.first_bad_seq,
        reason=result.reason,
        summary=str(result),
    )
