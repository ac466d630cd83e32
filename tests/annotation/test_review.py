"""Sample review: verdicts by the authenticated reviewer, the next version without the
rejected records, and a policy that gates training on agreement and review acceptance."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from lmops_core.annotation.models import SampleReviewItem
from lmops_core.errors import (
    AuthenticationError,
    ConflictError,
    IntegrityError,
    PermissionDeniedError,
    PolicyViolationError,
    ValidationError,
)
from lmops_core.workspace import Workspace
from tests.annotation.conftest import choice, completed, tickets
from tests.conftest import policy_ws, policy_yaml, ws_as

POLICY = policy_yaml(
    "annotated",
    """
    - name: annotated-data-for-training
      applies_to: {asset: dataset, transition: approved-for-training}
      evidence:
        - {kind: annotation}
      conditions:
        - name: agreement
          expr: evidence.annotation.metrics.agreement >= 0.6
          message: annotators agree too little
        - name: review-acceptance
          expr: evidence.annotation.metrics.review_acceptance >= 0.9
          message: the reviewer rejected too many sampled records
      approvals:
        - {role: data_steward, count: 1}
    """,
)


@pytest.fixture
def governed(tmp_path: Path, db_url: str) -> Iterator[Workspace]:
    with policy_ws(tmp_path, POLICY, db_url, file="annotated.yaml") as ws:
        yield ws


def _annotated(ws: Workspace, tmp: Path, disagree: int) -> str:
    """The tickets labelled by two annotators who disagree on the first ``disagree`` tasks."""
    ref = tickets(ws, tmp)
    ws.annotation.export_tasks(ref, tmp / "t.json", kind="labels")

    def answer(n: int, data: dict[str, Any]) -> list[tuple[Any, Any]]:
        flip = {"cards": "billing", "billing": "cards"}[data["topic"]] if n < disagree else None
        return [(1, choice(data["topic"])), (2, choice(flip or data["topic"]))]

    export = completed(tmp / "t.json", tmp / "e.json", answer)
    return ws.annotation.import_annotations(ref, export, kind="labels")


def test_review_excludes_rejected_records_and_says_why(governed: Workspace, tmp_path: Path) -> None:
    ws = governed
    ref = _annotated(ws, tmp_path, disagree=0)
    steward = ws_as(ws, "stew", "data_steward")
    review = steward.annotation.sample_review(ref, size=5, seed=4, stratify="topic")
    picked = [i.record_index for i in review.items]
    assert len(picked) == 5 and review.created_by == "stew" and review.undecided == 5
    steward.annotation.accept(review.id, picked[:3])
    steward.annotation.reject(review.id, picked[3:4], reason="label is wrong")
    ws_as(ws, "vic", "validator").annotation.reject(review.id, picked[4:], reason="not a ticket")
    with pytest.raises(
        ConflictError, match=f"record {picked[0]} of sample review .* was already accepted by stew"
    ):
        steward.annotation.reject(review.id, picked[:1], reason="changed my mind")
    new = steward.annotation.finish_review(review.id)
    assert ws.get(new).record_count == ws.get(ref).record_count - 2
    assert [e.parent for e in ws.lineage(new, depth=1)] == [ref]
    ev = ws.evidence(new, kind="annotation")[-1]
    assert ev.metrics["review_sampled"] == 5 and ev.metrics["review_rejected"] == 2
    assert ev.metrics["review_acceptance"] == 0.6 and ev.metrics["records_excluded"] == 2
    assert ev.metrics["agreement"] == 1.0  # carried over from the annotated version
    assert ev.details["reasons"] == {"label is wrong": 1, "not a ticket": 1}
    assert [(r["index"], r["by"]) for r in ev.details["rejected"]] == [
        (picked[3], "stew"),
        (picked[4], "vic"),
    ]
    done = ws.annotation.review(review.id)
    assert (done.status, done.result_ref, done.finished_by) == ("finished", new, "stew")
    actions = [e.action for e in ws.audit_events(limit=1000)]
    for action in (
        "review.create",
        "review.accept",
        "review.reject",
        "review.finish",
        "review.close",
    ):
        assert action in actions
    with pytest.raises(ConflictError, match="is finished, not open"):
        steward.annotation.finish_review(review.id)


def test_only_authenticated_reviewers_decide(governed: Workspace, tmp_path: Path) -> None:
    ws = governed
    ref = _annotated(ws, tmp_path, disagree=0)
    with pytest.raises(AuthenticationError, match="needs a credential of 'mallory'"):
        ws.as_actor("mallory").annotation.sample_review(ref, size=2)
    with pytest.raises(
        PermissionDeniedError, match="needs one of the roles admin, data_steward, validator"
    ):
        ws_as(ws, "eng", "submitter").annotation.sample_review(ref, size=2)
    steward = ws_as(ws, "stew", "data_steward")
    review = steward.annotation.sample_review(ref, size=3, seed=1)
    first = review.items[0].record_index
    with pytest.raises(PermissionDeniedError):
        ws_as(ws, "view", "viewer").annotation.accept(review.id, [first])
    with pytest.raises(ValidationError, match="rejecting a record needs a reason"):
        steward.annotation.reject(review.id, [first], reason="  ")
    with pytest.raises(ValidationError, match="record 999 is not in sample review"):
        steward.annotation.accept(review.id, [999])
    with pytest.raises(ConflictError, match="3 record\\(s\\) without a verdict"):
        steward.annotation.finish_review(review.id)
    assert ws.annotation.review(review.id).undecided == 3  # nothing half-applied


def test_only_reviewers_read_the_sampled_records_as_drawn(
    governed: Workspace, tmp_path: Path
) -> None:
    ws = governed
    ref = tickets(ws, tmp_path)
    steward = ws_as(ws, "stew", "data_steward")
    review = steward.annotation.sample_review(ref, size=3, seed=2)
    records = steward.annotation.sampled_records(review.id)
    lines = (tmp_path / "tickets.jsonl").read_text().splitlines()
    assert sorted(records) == [i.record_index for i in review.items]
    for index, record in records.items():
        assert record == json.loads(lines[index])
    with pytest.raises(
        PermissionDeniedError, match="needs one of the roles admin, data_steward, validator"
    ):
        ws_as(ws, "view", "viewer").annotation.sampled_records(review.id)
    # A sampled record that no longer reads as drawn is never shown as if it were.
    with ws.db.write() as s:
        item = (
            s.execute(select(SampleReviewItem).where(col(SampleReviewItem.review_id) == review.id))
            .scalars()
            .first()
        )
        assert item is not None
        item.record_digest = "sha256:" + "0" * 64
        s.add(item)
    with pytest.raises(IntegrityError, match=f"record {item.record_index} of {ref} is not"):
        steward.annotation.sampled_records(review.id)


def _reviewed(ws: Workspace, ref: str, rejected: int) -> str:
    steward = ws_as(ws, "stew", "data_steward")
    review = steward.annotation.sample_review(ref, size=10, seed=0)
    picked = [i.record_index for i in review.items]
    if rejected:
        steward.annotation.reject(review.id, picked[:rejected], reason="mislabelled")
    steward.annotation.accept(review.id, picked[rejected:])
    return steward.annotation.finish_review(review.id)


def test_policy_passes_with_agreement_and_acceptance(governed: Workspace, tmp_path: Path) -> None:
    ws = governed
    final = _reviewed(ws, _annotated(ws, tmp_path, disagree=1), rejected=0)
    verdict = ws.governance.explain(final, to="approved-for-training")
    assert verdict.allowed, verdict.outcomes
    request = ws_as(ws, "eng", "submitter").governance.request_promotion(
        final, to="approved-for-training"
    )
    # The reviewer made the final version: another steward approves (separation of duties).
    with pytest.raises(PermissionDeniedError, match="'stew' authored"):
        ws_as(ws, "stew").governance.decide(
            request.id, approve=True, role="data_steward", comment="fine"
        )
    ws_as(ws, "dee", "data_steward").governance.decide(
        request.id, approve=True, role="data_steward", comment="agreement and review are fine"
    )
    assert ws.get(final).stage == "approved-for-training"


@pytest.mark.parametrize(
    ("disagree", "rejected", "reason"),
    [
        (5, 0, "annotators agree too little"),  # kappa well under 0.6
        (0, 2, "the reviewer rejected too many"),  # acceptance 0.8
    ],
)
def test_policy_blocks_low_agreement_or_acceptance(
    governed: Workspace, tmp_path: Path, disagree: int, rejected: int, reason: str
) -> None:
    ws = governed
    final = _reviewed(ws, _annotated(ws, tmp_path, disagree=disagree), rejected=rejected)
    with pytest.raises(PolicyViolationError, match=reason):
        ws_as(ws, "eng", "submitter").governance.request_promotion(
            final, to="approved-for-training"
        )


def test_policy_blocks_without_the_metrics(governed: Workspace, tmp_path: Path) -> None:
    ws = governed
    annotated = _annotated(ws, tmp_path, disagree=0)  # agreement but no review yet
    verdict = ws.governance.explain(annotated, to="approved-for-training")
    assert not verdict.allowed
    assert any("review_acceptance" in str(o) for o in verdict.blocking)
    # One annotator: no agreement at all, so the reviewed version still blocks.
    (tmp_path / "one").mkdir()
    single = tickets(ws, tmp_path / "one")
    ws.annotation.export_tasks(single, tmp_path / "one.json", kind="labels")
    export = completed(
        tmp_path / "one.json", tmp_path / "one-e.json", lambda n, d: [(1, choice(d["topic"]))]
    )
    solo = ws.annotation.import_annotations(single, export, kind="labels")
    final = _reviewed(ws, solo, rejected=0)
    verdict = ws.governance.explain(final, to="approved-for-training")
    assert not verdict.allowed
    assert any("agreement" in str(o) for o in verdict.blocking)
