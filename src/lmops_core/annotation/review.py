"""Sample review: a reviewer accepts or rejects sampled records of a dataset version.

Every change is a decision: it needs a credential (token, personal key, or the OS
user of the embedded store) and one of :data:`REVIEWER_ROLES`, and is audited. The
reviewer is whoever that credential names, never a name typed in. Finishing a
review records the next version without the rejected records, with ``annotation``
evidence saying how many were sampled, accepted and rejected, and why.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from lmops_core.annotation.labelstudio import record_digest
from lmops_core.annotation.models import (
    ReviewItemPublic,
    SampleReview,
    SampleReviewDetail,
    SampleReviewItem,
    SampleReviewPublic,
)
from lmops_core.annotation.sampling import sample_indices
from lmops_core.annotation.store import (
    AnnotatingStore,
    Derived,
    latest_annotation,
    read_source,
    record_derived,
)
from lmops_core.errors import ConflictError, IntegrityError, NotFoundError, ValidationError
from lmops_core.governance.access import require_role
from lmops_core.governance.decisions import check_comment
from lmops_core.registry import store
from lmops_core.registry.models import utcnow
from lmops_core.validation import INT32_MAX

#: Who may draw a sample, decide on its records and finish it.
REVIEWER_ROLES = frozenset({"data_steward", "validator", "admin"})
REVIEW_STATUSES = ("open", "finished")
#: Metrics a finished review carries over from the reviewed version's annotation evidence.
CARRIED = ("type", "annotators", "annotations", "agreement", "agreement_method", "agreement_items")


def _reviewer(ws: AnnotatingStore, s: Session, action: str) -> str:
    actor = ws.governance.access.acting(s, action).user
    require_role(s, actor, REVIEWER_ROLES, action)
    return actor


def _get(s: Session, review_id: str) -> SampleReview:
    row = s.get(SampleReview, review_id)
    if row is None:
        raise NotFoundError(f"no sample review {review_id!r}")
    return row


def _items(s: Session, review_id: str) -> list[SampleReviewItem]:
    query = (
        select(SampleReviewItem)
        .where(col(SampleReviewItem.review_id) == review_id)
        .order_by(col(SampleReviewItem.record_index))
    )
    return list(s.execute(query).scalars())


def _public(row: SampleReview, items: Sequence[SampleReviewItem]) -> SampleReviewPublic:
    decided = Counter(i.decision for i in items)
    return SampleReviewPublic(
        **row.model_dump(),
        accepted=decided["accepted"],
        rejected=decided["rejected"],
        undecided=decided[None],
    )


def _detail(row: SampleReview, items: Sequence[SampleReviewItem]) -> SampleReviewDetail:
    return SampleReviewDetail(
        **_public(row, items).model_dump(),
        items=[ReviewItemPublic(**i.model_dump()) for i in items],
    )


def create_review(
    ws: AnnotatingStore, ref: str, *, size: int, seed: int = 0, stratify: str | None = None
) -> SampleReviewDetail:
    """Draw a seeded sample of ``size`` records of ``ref`` for review. Audited."""
    for what, value in (("size", size), ("seed", seed)):
        if not 0 <= value <= INT32_MAX:
            raise ValidationError(f"{what} must be 0..{INT32_MAX}, got {value}", field=what)
    source = read_source(ws, ref)
    indices = sample_indices(source.records, size=size, seed=seed, stratify=stratify)
    with ws.db.write() as s:
        actor = _reviewer(ws, s, f"draw a review sample of {source.ref}")
        _, version = store.resolve(s, source.ref, "dataset")
        row = SampleReview(
            id=uuid.uuid4().hex,
            version_id=version.id,
            ref=source.ref,
            digest=source.digest,
            size=len(indices),
            seed=seed,
            stratify=stratify,
            status="open",
            created_by=actor,
        )
        s.add(row)
        s.flush()
        for i in indices:
            s.add(
                SampleReviewItem(
                    review_id=row.id, record_index=i, record_digest=record_digest(source.lines[i])
                )
            )
        ws.audit_writer.record(
            s,
            "review.create",
            source.ref,
            after={"review_id": row.id, "size": len(indices), "seed": seed, "stratify": stratify},
        )
        s.flush()
        return _detail(row, _items(s, row.id))


def decide_records(
    ws: AnnotatingStore,
    review_id: str,
    indices: Sequence[int],
    *,
    accept: bool,
    reason: str | None = None,
) -> SampleReviewDetail:
    """Accept or reject sampled records (by record index); a rejection needs a reason.

    A verdict is final: deciding a record twice is a conflict. Audited per call."""
    if not indices:
        raise ValidationError("name at least one sampled record", field="indices")
    if not accept and not (reason or "").strip():
        raise ValidationError("rejecting a record needs a reason", field="reason")
    if reason:
        check_comment(reason, "reason")
    verdict = "accepted" if accept else "rejected"
    with ws.db.write() as s:
        actor = _reviewer(ws, s, f"review records of sample review {review_id}")
        row = _get(s, review_id)
        if row.status != "open":
            raise ConflictError(f"sample review {review_id} is {row.status}, not open")
        by_index = {i.record_index: i for i in _items(s, review_id)}
        for index in indices:
            item = by_index.get(index)
            if item is None:
                raise ValidationError(
                    f"record {index} is not in sample review {review_id}", field="indices"
                )
            if item.decision is not None:
                raise ConflictError(
                    f"record {index} of sample review {review_id} was already {item.decision} "
                    f"by {item.decided_by}"
                )
            item.decision, item.decided_by, item.decided_at = verdict, actor, utcnow()
            item.reason = reason if not accept else (reason or None)
            s.add(item)
        ws.audit_writer.record(
            s,
            f"review.{'accept' if accept else 'reject'}",
            row.ref,
            after={"review_id": review_id, "records": sorted(indices), "reason": reason},
        )
        s.flush()
        return _detail(row, _items(s, review_id))


def get_review(ws: AnnotatingStore, review_id: str) -> SampleReviewDetail:
    """A sample review with every record's verdict."""
    with ws.db.read() as s:
        return _detail(_get(s, review_id), _items(s, review_id))


def sampled_records(ws: AnnotatingStore, review_id: str) -> dict[int, dict[str, Any]]:
    """``{record index: record}`` of a review's sample, read from the reviewed version.

    Each record is checked against the digest drawn with the sample, so a reviewer
    never judges a record other than the one sampled. Only a reviewer may read them
    (the records are the dataset's own data)."""
    with ws.db.read() as s:
        _reviewer(ws, s, f"read the records of sample review {review_id}")
        row = _get(s, review_id)
        ref = row.ref
        drawn = [(i.record_index, i.record_digest) for i in _items(s, review_id)]
    source = read_source(ws, ref)
    out = {}
    for index, digest in drawn:
        line = source.lines[index] if index < len(source.lines) else b""
        if record_digest(line) != digest:
            raise IntegrityError(
                f"record {index} of {ref} is not the record sample review {review_id} drew"
            )
        out[index] = source.records[index]
    return out


def list_reviews(
    ws: AnnotatingStore, *, status: str | None = None, limit: int = 100
) -> list[SampleReviewPublic]:
    """Sample reviews, newest first (``status`` None: all)."""
    if status is not None and status not in REVIEW_STATUSES:
        raise ValidationError(
            f"unknown review status {status!r} (expected one of {', '.join(REVIEW_STATUSES)})",
            field="status",
        )
    query = select(SampleReview).order_by(col(SampleReview.created_at).desc()).limit(limit)
    if status is not None:
        query = query.where(col(SampleReview.status) == status)
    with ws.db.read() as s:
        return [_public(r, _items(s, r.id)) for r in s.execute(query).scalars()]


def finish_review(ws: AnnotatingStore, review_id: str, *, name: str | None = None) -> str:
    """Record the reviewed version without its rejected records as the next version.

    Every sampled record must have a verdict. The new version's ``annotation``
    evidence gives ``review_sampled``, ``review_accepted``, ``review_rejected``,
    ``review_acceptance`` (accepted / sampled) and ``records_excluded``, the
    reasons in its details, and carries over the agreement the reviewed version's
    own annotation evidence recorded. Returns the new version's reference.
    """
    with ws.db.read() as s:
        _reviewer(ws, s, f"finish sample review {review_id}")
        row = _detail(_get(s, review_id), _items(s, review_id))
    if row.status != "open":
        raise ConflictError(f"sample review {review_id} is {row.status}, not open")
    undecided = [i.record_index for i in row.items if i.decision is None]
    if undecided:
        raise ConflictError(
            f"sample review {review_id} has {len(undecided)} record(s) without a verdict: "
            f"{', '.join(map(str, undecided[:10]))}"
        )
    source = read_source(ws, row.ref)
    rejected = {i.record_index: i for i in row.items if i.decision == "rejected"}
    metrics = _review_metrics(ws, row.ref, len(row.items), len(rejected))
    details: dict[str, Any] = {
        "review_id": review_id,
        "rejected": [
            {"index": i, "reason": item.reason, "by": item.decided_by}
            for i, item in sorted(rejected.items())
        ],
        "reasons": dict(Counter(item.reason or "" for item in rejected.values())),
        "reviewers": sorted({i.decided_by or "" for i in row.items}),
    }
    new = Derived(
        name=name or source.name,
        shape=source.shape,
        records=[r for i, r in enumerate(source.records) if i not in rejected],
        metrics=metrics,
        details=details,
        artifacts={},
        action="review.finish",
    )

    def close(s: Session, ref: str) -> None:
        actor = _reviewer(ws, s, f"finish sample review {review_id}")
        current = s.get(SampleReview, review_id, with_for_update=True)
        if current is None or current.status != "open":  # finished by someone else meanwhile
            raise ConflictError(f"sample review {review_id} is no longer open")
        current.status, current.finished_by = "finished", actor
        current.finished_at, current.result_ref = utcnow(), ref
        s.add(current)
        ws.audit_writer.record(
            s, "review.close", row.ref, after={"review_id": review_id, "result": ref}
        )

    return record_derived(ws, source, new, then=close)


def _review_metrics(ws: AnnotatingStore, ref: str, sampled: int, rejected: int) -> dict[str, Any]:
    previous = latest_annotation(ws, ref)
    carried = {k: v for k, v in (previous.metrics if previous else {}).items() if k in CARRIED}
    return {
        **carried,
        "review_sampled": sampled,
        "review_accepted": sampled - rejected,
        "review_rejected": rejected,
        "review_acceptance": round((sampled - rejected) / sampled, 6),
        "records_excluded": rejected,
    }
