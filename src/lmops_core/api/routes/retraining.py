"""Retraining requests opened by monitoring breaches: list, read, close.

Running a retraining is the watcher's job (``lmops monitor watch``); people read the
requests here and close them once decided.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from lmops_core.api.errors import ERROR_RESPONSES, ErrorBody
from lmops_core.api.paths import scrub_model
from lmops_core.api.routes import Text
from lmops_core.api.routes.requests import RequestId
from lmops_core.api.security import READERS, acting, require
from lmops_core.governance import retraining as service
from lmops_core.governance.retraining import TrainingRequestDetail, TrainingRequestPublic
from lmops_core.governance.schemas import Principal

router = APIRouter(prefix="/api/v1/retraining", tags=["retraining"], responses=ERROR_RESPONSES)
#: Who may close a retraining request: the same roles the governance layer checks.
CLOSERS = require("retraining_closers", *sorted(service.CLOSER_ROLES))
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such retraining request"}
}


class CloseBody(BaseModel):
    """Close a retraining request, saying why."""

    model_config = ConfigDict(extra="forbid")
    comment: Text = Field(min_length=1, max_length=4000)


@router.get("", response_model=list[TrainingRequestPublic])
def list_retraining(
    request: Request,
    principal: Annotated[Principal, Depends(READERS)],
    status: Annotated[Literal["open", "closed", "superseded", "all"], Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[TrainingRequestPublic]:
    """Retraining requests, newest first, each with its latest attempt."""
    ws = acting(request, principal)
    rows = service.list_requests(ws, status=None if status == "all" else status, limit=limit)
    return [scrub_model(request, row) for row in rows]


@router.get("/{request_id}", response_model=TrainingRequestDetail, responses=_NOT_FOUND)
def get_retraining(
    request: Request, principal: Annotated[Principal, Depends(READERS)], request_id: RequestId
) -> TrainingRequestDetail:
    """One request: the version, the breach evidence and window, the pipeline, every attempt."""
    return scrub_model(request, service.request_detail(acting(request, principal), request_id))


@router.post(
    "/{request_id}/close",
    response_model=TrainingRequestDetail,
    responses={
        **_NOT_FOUND,
        409: {"model": ErrorBody, "description": "The request is not open"},
    },
)
def close_retraining(
    request: Request,
    principal: Annotated[Principal, Depends(CLOSERS)],
    request_id: RequestId,
    body: CloseBody,
) -> TrainingRequestDetail:
    """Close an open request; an attempt still in flight is abandoned. Audited."""
    ws = acting(request, principal)
    service.close_request(ws, request_id, comment=body.comment)
    return scrub_model(request, service.request_detail(ws, request_id))
