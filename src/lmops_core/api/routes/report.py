"""The validation report of a promotion request's version, as JSON or as its HTML page."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict

from lmops_core.api.console.render import REPORT_HEADERS
from lmops_core.api.errors import ERROR_RESPONSES, ErrorBody
from lmops_core.api.paths import scrub
from lmops_core.api.routes import Text
from lmops_core.api.security import READERS, acting
from lmops_core.governance.decisions import check_target_stage
from lmops_core.governance.schemas import Principal

router = APIRouter(prefix="/api/v1/requests", tags=["requests"], responses=ERROR_RESPONSES)
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such request"}
}
RequestId = Annotated[Text, Path(min_length=1, max_length=64)]


class ReportBody(BaseModel):
    """A rendered validation report: its digest and both renderings."""

    model_config = ConfigDict(frozen=True)
    ref: str
    target_stage: str
    digest: str
    markdown: str
    html: str


def wants_html(accept: str) -> bool:
    """Whether an ``Accept`` header prefers ``text/html`` to JSON (a tie stays JSON)."""
    best: dict[str, float] = {}
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        best.setdefault(media.lower(), quality)
    html = best.get("text/html", 0.0)
    json_q = max(best.get(m, 0.0) for m in ("application/json", "application/*", "*/*"))
    return html > 0 and html > json_q


@router.get(
    "/{request_id}/report",
    response_model=ReportBody,
    responses={
        **_NOT_FOUND,
        200: {
            "description": "The report: JSON, or the HTML page itself when the "
            "Accept header prefers text/html",
            "content": {"text/html": {"schema": {"type": "string"}}},
        },
    },
)
def get_report(
    request: Request, principal: Annotated[Principal, Depends(READERS)], request_id: RequestId
) -> ReportBody | HTMLResponse:
    """The validation report of the request's version, judged for the request's stage
    (``Accept: text/html`` gets the page itself)."""
    from lmops_core.reports import render_report

    ws = acting(request, principal)
    detail = ws.governance.get_request(request_id)
    rendered = render_report(
        ws, detail.ref, to=check_target_stage(detail.target_stage, field="target_stage")
    )
    if wants_html(request.headers.get("accept", "")):
        return HTMLResponse(scrub(request, rendered.html), headers=REPORT_HEADERS)
    return ReportBody(
        ref=rendered.ref,
        target_stage=detail.target_stage,
        digest=rendered.digest,
        markdown=scrub(request, rendered.markdown),
        html=scrub(request, rendered.html),
    )
