"""The SDK's door to annotation and sample review: ``Workspace.annotation``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Unpack

from lmops_core.annotation import review, service
from lmops_core.annotation.models import SampleReviewDetail, SampleReviewPublic
from lmops_core.annotation.service import DEFAULT_CANDIDATES, ExportedTasks, ExportOptions
from lmops_core.annotation.store import AnnotatingStore
from lmops_core.validation import checked_public


@checked_public
class Annotations:
    """Annotation and sample review on one store, acting as its actor."""

    def __init__(self, store: AnnotatingStore) -> None:
        self._store = store

    def export_tasks(
        self,
        ref: str,
        dest: Path | str,
        *,
        kind: str,
        **options: Unpack[ExportOptions],
    ) -> ExportedTasks:
        """Write ``ref``'s records (or a seeded sample, stratified by a field: the
        :class:`~lmops_core.annotation.service.ExportOptions`) as Label Studio tasks of
        ``kind`` (``labels``, ``preference``, ``rating``) to ``dest``."""
        return service.export_tasks(self._store, ref, Path(dest), kind=kind, **options)

    def import_annotations(
        self,
        ref: str,
        export: Path | str,
        *,
        kind: str,
        name: str | None = None,
        field: str | None = None,
        candidates: tuple[str, str] = DEFAULT_CANDIDATES,
    ) -> str:
        """Record a Label Studio export of ``ref``'s tasks as a new dataset version (its
        reference is returned), with ``annotation`` evidence and lineage to ``ref``."""
        return service.import_annotations(
            self._store,
            ref,
            Path(export),
            kind=kind,
            name=name,
            field=field,
            candidates=candidates,
        )

    def sample_review(
        self, ref: str, *, size: int, seed: int = 0, stratify: str | None = None
    ) -> SampleReviewDetail:
        """Draw a seeded sample of ``size`` records of ``ref`` for a reviewer."""
        return review.create_review(self._store, ref, size=size, seed=seed, stratify=stratify)

    def accept(
        self, review_id: str, indices: Sequence[int], *, comment: str | None = None
    ) -> SampleReviewDetail:
        """Accept sampled records (by record index) as the authenticated reviewer."""
        return review.decide_records(self._store, review_id, indices, accept=True, reason=comment)

    def reject(self, review_id: str, indices: Sequence[int], *, reason: str) -> SampleReviewDetail:
        """Reject sampled records, saying why, as the authenticated reviewer."""
        return review.decide_records(self._store, review_id, indices, accept=False, reason=reason)

    def finish_review(self, review_id: str, *, name: str | None = None) -> str:
        """Record the reviewed version without its rejected records; the new reference."""
        return review.finish_review(self._store, review_id, name=name)

    def review(self, review_id: str) -> SampleReviewDetail:
        """One sample review with every sampled record's verdict."""
        return review.get_review(self._store, review_id)

    def sampled_records(self, review_id: str) -> dict[int, dict[str, Any]]:
        """``{record index: record}`` of a review's sample, checked against the sample
        (a reviewer's read: needs one of the reviewer roles)."""
        return review.sampled_records(self._store, review_id)

    def reviews(self, *, status: str | None = None, limit: int = 100) -> list[SampleReviewPublic]:
        """Sample reviews, newest first."""
        return review.list_reviews(self._store, status=status, limit=limit)
