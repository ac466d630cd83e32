"""Tables of sample review: a seeded sample of a dataset version, and one row per record."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Column, DateTime, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from lmops_core.registry.models import utcnow


class SampleReview(SQLModel, table=True):
    """A reviewer's sample of one dataset version; ``finished`` once its result is recorded.

    ``result_ref`` is the dataset version made from the reviewed one without the
    records the reviewers rejected.
    """

    __tablename__ = "sample_reviews"
    id: str = Field(primary_key=True, max_length=32)
    version_id: int = Field(index=True)
    ref: str = Field(max_length=256)
    digest: str = Field(max_length=71)
    size: int
    seed: int
    stratify: str | None = Field(default=None, max_length=128)
    status: str = Field(max_length=16)
    created_by: str = Field(max_length=128)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    finished_by: str | None = Field(default=None, max_length=128)
    finished_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    result_ref: str | None = Field(default=None, max_length=256)


class SampleReviewItem(SQLModel, table=True):
    """One sampled record (by its line in the version's canonical file) and its verdict."""

    __tablename__ = "sample_review_items"
    __table_args__ = (UniqueConstraint("review_id", "record_index", name="uq_review_record"),)
    id: int | None = Field(default=None, primary_key=True)
    review_id: str = Field(foreign_key="sample_reviews.id", index=True, max_length=32)
    record_index: int
    record_digest: str = Field(max_length=71)
    decision: str | None = Field(default=None, max_length=16)
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    decided_by: str | None = Field(default=None, max_length=128)
    decided_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class ReviewItemPublic(BaseModel):
    """A sampled record's verdict, as the CLI and the admin API show it."""

    record_index: int
    record_digest: str
    decision: str | None
    reason: str | None
    decided_by: str | None
    decided_at: datetime | None


class SampleReviewPublic(BaseModel):
    """A sample review and its counts so far."""

    id: str
    ref: str
    digest: str
    size: int
    seed: int
    stratify: str | None
    status: str
    created_by: str
    created_at: datetime
    finished_by: str | None
    finished_at: datetime | None
    result_ref: str | None
    accepted: int
    rejected: int
    undecided: int


class SampleReviewDetail(SampleReviewPublic):
    """A sample review with every sampled record's verdict, in record order."""

    items: list[ReviewItemPublic]
