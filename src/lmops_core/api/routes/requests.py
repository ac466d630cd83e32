"""Promotion requests: list, read, create, approve, reject."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from lmops_core.api.errors import ERROR_RESPONSES, ErrorBody
from lmops_core.api.paths import scrub_model, scrubbed_json
from lmops_core.api.routes import Text
from lmops_core.api.security import READERS, REVIEWERS, SUBMITTERS, acting, cached_json
from lmops_core.governance.access import check_user_role
from lmops_core.governance.decisions import check_target_stage
from lmops_core.governance.schemas import (
    ApprovalRequestDetail,
    ApprovalRequestPublic,
    Page,
    Principal,
)
from lmops_core.validation import INT64_MAX

router = APIRouter(prefix="/api/v1/requests", tags=["requests"], responses=ERROR_RESPONSES)
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "Refused by policy, stale or decided"}
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such request"}
}
RequestId = Annotated[Text, Path(min_length=1, max_length=64)]


class PromotionBody(BaseModel):
    """Ask to promote ``ref`` into stage ``to``."""

    model_config = ConfigDict(extra="forbid")
    ref: Text = Field(min_length=1, max_length=256, examples=["model:chat@1"])
    to: Text = Field(min_length=1, max_length=64, examples=["production"])


class DecisionBody(BaseModel):
    """Decide a request as one of the roles the caller holds, saying why."""

    model_config = ConfigDict(extra="forbid")
    role: Text = Field(min_length=1, max_length=32, examples=["validator"])
    comment: Text = Field(min_length=1, max_length=4000)


@router.get("", response_model=Page)
async def list_requests(
    request: Request,
    principal: Annotated[Principal, Depends(READERS)],
    status: Annotated[Text | None, Query(max_length=16)] = None,
    asset_type: Annotated[Text | None, Query(max_length=16)] = None,
    target_stage: Annotated[Text | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=INT64_MAX)] = 0,
) -> Response:
    """Requests, newest first, filtered by status, asset type and target stage."""
    # Reviewers poll this list; the page is the same for every caller until the store
    # changes, so it is rendered once per generation.
    return await cached_json(
        request,
        ("requests", status, asset_type, target_stage, limit, offset),
        lambda: acting(request, principal).governance.list_requests(
            status=status,
            asset_type=asset_type,
            target_stage=check_target_stage(target_stage, field="target_stage")
            if target_stage
            else None,
            limit=limit,
            offset=offset,
        ),
    )


@router.get("/{request_id}", response_model=ApprovalRequestDetail, responses=_NOT_FOUND)
def get_request(
    request: Request, principal: Annotated[Principal, Depends(READERS)], request_id: RequestId
) -> ApprovalRequestDetail:
    """One request with its frozen policy evaluation, the evidence and the version it
    would replace in the target stage."""
    return scrub_model(request, acting(request, principal).governance.get_request(request_id))


@router.post(
    "",
    response_model=ApprovalRequestPublic,
    status_code=201,
    responses={**_CONFLICT, 404: {"model": ErrorBody, "description": "No such ref"}},
)
def create_request(
    request: Request, principal: Annotated[Principal, Depends(SUBMITTERS)], body: PromotionBody
) -> ApprovalRequestPublic:
    """Ask to promote a version; refused at once (409) when hard policy gates fail."""
    return scrub_model(
        request,
        acting(request, principal).governance.request_promotion(
            body.ref, to=check_target_stage(body.to)
        ),
    )


def _decision_turns(request: Request) -> asyncio.Semaphore:
    """The turns decisions take in this process (``LMOPS_API_DECISIONS_AT_ONCE`` at once,
    the rest waiting in the order they came), made on first use in the running loop.

    Every decision writes, and writes take the store's write lock one at a time (SQLite)
    or the audit head's row lock (PostgreSQL). Forty threads of the pool waiting on that
    lock decided no faster than four, but the lock picked among them in no particular
    order (some waited several times as long as the rest) and switching among them cost
    CPU (docs/admin-api.md, "Decisions take turns").
    """
    loop = asyncio.get_running_loop()
    made: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = getattr(
        request.app.state, "decision_turns", None
    )
    if made is None or made[0] is not loop:
        made = (loop, asyncio.Semaphore(request.app.state.decisions_at_once))
        request.app.state.decision_turns = made
    return made[1]


def _decision_route(decision: str, *, approve: bool, doc: str) -> None:
    """Add the route ``POST /{request_id}/<decision>``: the caller's signed decision."""

    async def route(
        request: Request,
        principal: Annotated[Principal, Depends(REVIEWERS)],
        request_id: RequestId,
        body: DecisionBody,
    ) -> Response:
        decide = acting(request, principal).governance.decide
        role = check_user_role(body.role)
        async with _decision_turns(request):
            public = await run_in_threadpool(
                decide, request_id, approve=approve, role=role, comment=body.comment
            )
        return scrubbed_json(request, public)

    # The name and the docstring make the operation's id and description.
    route.__name__ = route.__qualname__ = decision
    route.__doc__ = doc
    router.post(
        f"/{{request_id}}/{decision}",
        response_model=ApprovalRequestPublic,
        responses={**_CONFLICT, **_NOT_FOUND},
    )(route)


_decision_route(
    "approve",
    approve=True,
    doc="Approve as ``role``; the last required approval promotes the version.",
)
_decision_route("reject", approve=False, doc="Reject as ``role``; the request is closed.")
