"""The validation report of a promotion request's version, as JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict

from lmops_core.api.errors import ERROR_RESPONSES, ErrorBody
from lmops_core.api.paths import scrub
from lmops_core.api.routes import Text
from lmops_core.api.security import READERS, acting
from lmops_core.governance.schemas import Principal

router = APIRouter(prefix="/api/v1/requests", tags=["requests"], responses=ERROR_RESPONSES)
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such request"}}
RequestId = Annotated[Text, Path(min_length=1, max_length=64)]


class ReportBody(BaseModel):
    """A rendered validation report: its digest and both renderings."""

    model_config = ConfigDict(frozen=True)
    ref: str
    target_stage: str
    digest: str
    markdown: str
    html: str


@router.get("/{request_id}/report", response_model=ReportBody, responses=_NOT_FOUND)
def get_report(request: Request, principal: Annotated[Principal, Depends(READERS)],
               request_id: RequestId) -> ReportBody:
    """The validation report of the request's version, judged for the request's stage."""
    from lmops_core.reports import render_report

    ws = acting(request, principal)
    detail = ws.governance.get_request(request_id)
    rendered = render_report(ws, detail.ref, to=detail.target_stage)
    return ReportBody(ref=rendered.ref, target_stage=detail.target_stage,
                      digest=rendered.digest, markdown=scrub(request, rendered.markdown),
                      html=scrub(request, rendered.html))
