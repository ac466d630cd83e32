"""Sample reviews of dataset versions: list, read, draw, accept, reject, finish.

The reviewer is the token's owner; the same roles as the SDK and CLI
(:data:`lmops_core.annotation.review.REVIEWER_ROLES`) may change anything.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from lmops_core.annotation.models import SampleReviewDetail, SampleReviewPublic
from lmops_core.annotation.review import REVIEWER_ROLES
from lmops_core.api.errors import ERROR_RESPONSES, ErrorBody
from lmops_core.api.paths import scrub_model
from lmops_core.api.routes import Text
from lmops_core.api.security import READERS, acting, require
from lmops_core.governance.schemas import Principal
from lmops_core.validation import INT32_MAX

router = APIRouter(prefix="/api/v1/reviews", tags=["reviews"], responses=ERROR_RESPONSES)
#: Who may draw a sample, judge its records and finish it: the service checks the same.
SAMPLE_REVIEWERS = require("sample_reviewers", *sorted(REVIEWER_ROLES))
ReviewId = Annotated[Text, Path(min_length=1, max_length=64)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such sample review"}
}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The review is finished, or a record was decided"}
}
Index = Annotated[int, Field(ge=0, le=INT32_MAX)]


class SampleBody(BaseModel):
    """Draw a seeded sample of ``size`` records of a dataset version."""

    model_config = ConfigDict(extra="forbid")
    ref: Text = Field(min_length=1, max_length=256, examples=["dataset:tickets@2"])
    size: int = Field(ge=1, le=INT32_MAX)
    seed: int = Field(default=0, ge=0, le=INT32_MAX)
    stratify: Text | None = Field(default=None, min_length=1, max_length=128)


class AcceptBody(BaseModel):
    """Accept sampled records (by record index)."""

    model_config = ConfigDict(extra="forbid")
    indices: list[Index] = Field(min_length=1, max_length=10_000)
    comment: Text | None = Field(default=None, max_length=4000)


class RejectBody(BaseModel):
    """Reject sampled records, saying why."""

    model_config = ConfigDict(extra="forbid")
    indices: list[Index] = Field(min_length=1, max_length=10_000)
    reason: Text = Field(min_length=1, max_length=4000)


class FinishBody(BaseModel):
    """Finish a review; the new version goes to ``name`` (default: the reviewed dataset)."""

    model_config = ConfigDict(extra="forbid")
    name: Text | None = Field(default=None, min_length=1, max_length=128)


class FinishedReview(BaseModel):
    """A finished review and the dataset version it produced."""

    review: SampleReviewDetail
    version: str


@router.get("", response_model=list[SampleReviewPublic])
def list_reviews(
    request: Request,
    principal: Annotated[Principal, Depends(READERS)],
    status: Annotated[Literal["open", "finished", "all"], Query()] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[SampleReviewPublic]:
    """Sample reviews, newest first, with their counts."""
    ws = acting(request, principal)
    return ws.annotation.reviews(status=None if status == "all" else status, limit=limit)


@router.post("", response_model=SampleReviewDetail, status_code=201)
def create_review(
    request: Request, principal: Annotated[Principal, Depends(SAMPLE_REVIEWERS)], body: SampleBody
) -> SampleReviewDetail:
    """Draw a sample of a dataset version for review. Audited."""
    ws = acting(request, principal)
    review = ws.annotation.sample_review(
        body.ref, size=body.size, seed=body.seed, stratify=body.stratify
    )
    return scrub_model(request, review)


@router.get("/{review_id}", response_model=SampleReviewDetail, responses=_NOT_FOUND)
def get_review(
    request: Request, principal: Annotated[Principal, Depends(READERS)], review_id: ReviewId
) -> SampleReviewDetail:
    """One review: every sampled record's verdict, reason and reviewer."""
    return scrub_model(request, acting(request, principal).annotation.review(review_id))


@router.post(
    "/{review_id}/accept",
    response_model=SampleReviewDetail,
    responses={**_NOT_FOUND, **_CONFLICT},
)
def accept_records(
    request: Request,
    principal: Annotated[Principal, Depends(SAMPLE_REVIEWERS)],
    review_id: ReviewId,
    body: AcceptBody,
) -> SampleReviewDetail:
    """Accept sampled records as the token's owner. Audited."""
    ws = acting(request, principal)
    return ws.annotation.accept(review_id, body.indices, comment=body.comment)


@router.post(
    "/{review_id}/reject",
    response_model=SampleReviewDetail,
    responses={**_NOT_FOUND, **_CONFLICT},
)
def reject_records(
    request: Request,
    principal: Annotated[Principal, Depends(SAMPLE_REVIEWERS)],
    review_id: ReviewId,
    body: RejectBody,
) -> SampleReviewDetail:
    """Reject sampled records as the token's owner, saying why. Audited."""
    ws = acting(request, principal)
    return ws.annotation.reject(review_id, body.indices, reason=body.reason)


@router.post(
    "/{review_id}/finish",
    response_model=FinishedReview,
    responses={**_NOT_FOUND, **_CONFLICT},
)
def finish_review(
    request: Request,
    principal: Annotated[Principal, Depends(SAMPLE_REVIEWERS)],
    review_id: ReviewId,
    body: FinishBody,
) -> FinishedReview:
    """Record the reviewed version without its rejected records as a new version."""
    ws = acting(request, principal)
    version = ws.annotation.finish_review(review_id, name=body.name)
    return FinishedReview(review=ws.annotation.review(review_id), version=version)
