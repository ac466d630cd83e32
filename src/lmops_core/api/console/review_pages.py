"""The console's sample-review pages: open reviews, one review's records, verdicts, finishing.

Reading a review's verdicts is for every console reader; reading the sampled
records and judging them is for the sample reviewers (the JSON API's
``sample_reviewers`` rule, reached through the session). A verdict is
:meth:`Annotations.accept` / :meth:`Annotations.reject` acting as the signed-in
user, the very call ``POST /api/v1/reviews/{id}/accept|reject`` makes, so the
service checks the role again and audits it the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from lmops_core.annotation.models import SampleReviewDetail, SampleReviewPublic
from lmops_core.annotation.review import REVIEWER_ROLES
from lmops_core.api.console.pages import Reader, cached_page, checked_form, refused_form
from lmops_core.api.console.render import CSRF_SLOT, PREFIX, FormPage, page, part
from lmops_core.api.routes import Text
from lmops_core.api.routes.reviews import SAMPLE_REVIEWERS
from lmops_core.api.security import acting, on_pages
from lmops_core.errors import (
    AuthenticationError,
    LmopsError,
    PermissionDeniedError,
    ValidationError,
)
from lmops_core.governance.schemas import Principal
from lmops_core.workspace import Workspace

router = APIRouter(prefix=f"{PREFIX}/reviews", include_in_schema=False)
#: The console's verdict forms: the JSON API's sample reviewers, signed in by session.
PAGE_SAMPLE_REVIEWERS = on_pages(SAMPLE_REVIEWERS)
SampleReviewer = Annotated[Principal, Depends(PAGE_SAMPLE_REVIEWERS)]
ReviewId = Annotated[Text, Path(min_length=1, max_length=64)]
#: Most characters of one record the review page shows.
RECORD_CHARS = 4000
_NOTICES = {
    "accept": "Your acceptance was recorded.",
    "reject": "Your rejection was recorded.",
    "finish": "The review is finished; its result is recorded as a new version.",
}


@dataclass(frozen=True)
class ReviewView:
    """What one review's page shows: the review, each sampled record (for reviewers) and
    whether the reader may judge them."""

    review: SampleReviewDetail
    records: dict[int, str] | None
    can_decide: bool
    why_not: str


def _shown(record: object) -> str:
    text = json.dumps(record, ensure_ascii=False, indent=1, sort_keys=True)
    return text if len(text) <= RECORD_CHARS else text[:RECORD_CHARS] + " …"


def review_view(ws: Workspace, principal: Principal, review_id: str) -> ReviewView:
    """The page of sample review ``review_id`` as ``principal`` sees it."""
    review = ws.annotation.review(review_id)
    reviewer = bool(principal.roles & REVIEWER_ROLES)
    records = (
        {i: _shown(r) for i, r in ws.annotation.sampled_records(review_id).items()}
        if reviewer
        else None
    )
    if not reviewer:
        why = (
            "You hold none of the sample-review roles "
            f"({', '.join(sorted(REVIEWER_ROLES))}): you may read the verdicts, "
            "not the records, and not judge them."
        )
    elif review.status != "open":
        why = f"This review is {review.status}; its records can no longer be judged."
    else:
        why = ""
    return ReviewView(
        review=review,
        records=records,
        can_decide=reviewer and review.status == "open",
        why_not=why,
    )


@router.get("")
def review_list(
    request: Request,
    principal: Reader,
    status: Annotated[Literal["open", "finished", "all"], Query()] = "open",
) -> HTMLResponse:
    """Sample reviews (open ones by default), newest first, with their counts."""
    reviews: list[SampleReviewPublic] = acting(request, principal).annotation.reviews(
        status=None if status == "all" else status
    )
    return page(request, "reviews.html", reviews=reviews, shown=status, title="Sample reviews")


def _review_page(request: Request, principal: Principal, review_id: str) -> FormPage:
    view = review_view(acting(request, principal), principal, review_id)
    return FormPage(request, "review.html", view, f"Sample review of {view.review.ref}")


@router.get("/{review_id}")
async def review_page(
    request: Request,
    principal: Reader,
    review_id: ReviewId,
    done: Annotated[str, Query(max_length=8)] = "",
) -> HTMLResponse:
    """One review: every sampled record with its verdict, and the forms to judge them."""
    notice = _NOTICES.get(done, "")
    return await cached_page(
        request,
        principal,
        ("review", review_id, notice),
        lambda: _review_page(request, principal, review_id).html(csrf=CSRF_SLOT, notice=notice),
    )


async def _again(
    request: Request, principal: Principal, review_id: str, exc: LmopsError
) -> Response:
    """The review page again, in its new state, saying why the form was refused."""
    return await refused_form(
        exc, lambda error: _review_page(request, principal, review_id).html(error=error)
    )


def _record(form: dict[str, str]) -> int:
    value = form.get("record", "").strip()
    if not value.isdigit():
        raise ValidationError(
            f"record must be a sampled record's index, not {value!r}", field="record"
        )
    return int(value)


@router.post("/{review_id}/decide")
async def decide_record(
    request: Request, principal: SampleReviewer, review_id: ReviewId
) -> Response:
    """Accept or reject one sampled record (a rejection says why), as the signed-in user."""
    form = await checked_form(request)
    decision = form.get("decision", "")
    if decision not in ("accept", "reject"):
        raise ValidationError("decision must be accept or reject", field="decision")
    annotation = acting(request, principal).annotation
    reason = form.get("reason", "").strip()
    try:
        record = _record(form)
        if decision == "accept":
            await run_in_threadpool(annotation.accept, review_id, [record], comment=reason or None)
        else:
            await run_in_threadpool(annotation.reject, review_id, [record], reason=reason)
    except (AuthenticationError, PermissionDeniedError):
        raise  # the same refusal the JSON API gives, not a form to fix
    except LmopsError as exc:
        return await _again(request, principal, review_id, exc)
    return RedirectResponse(f"{PREFIX}/reviews/{part(review_id)}?done={decision}", status_code=303)


@router.post("/{review_id}/finish")
async def finish(request: Request, principal: SampleReviewer, review_id: ReviewId) -> Response:
    """Finish the review: the reviewed version without its rejected records, a new version."""
    await checked_form(request)
    annotation = acting(request, principal).annotation
    try:
        await run_in_threadpool(annotation.finish_review, review_id)
    except (AuthenticationError, PermissionDeniedError):
        raise
    except LmopsError as exc:
        return await _again(request, principal, review_id, exc)
    return RedirectResponse(f"{PREFIX}/reviews/{part(review_id)}?done=finish", status_code=303)


__all__ = ["PAGE_SAMPLE_REVIEWERS", "ReviewView", "review_view", "router"]
