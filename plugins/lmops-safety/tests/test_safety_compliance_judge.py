"""With a judge model, each answer is judged twice; disagreements go to people to review."""

from __future__ import annotations

import json
from pathlib import Path

from lmops_core.testing import Governed


def test_judge_and_classifiers_disagreeing_send_items_to_the_review_queue(
    workspace: Governed, tiny_model: Path, tmp_path: Path
) -> None:
    eng = workspace.as_user("eng", "submitter")
    model = eng.register_model("assistant", tiny_model).ref
    judge = eng.register_model("judge", tiny_model).ref
    outcome = eng.run_stage(
        "evaluation",
        "tc260",
        inputs={"model": model, "judge": judge},  # the shipped sample banks
        params={"max_new_tokens": 4, "threads": 1, "input_filter": True},
        seed=3,
    )
    content = eng.evidence(model, kind="content_sample")[0]
    decided = content.details["decided_by"]
    assert set(decided) <= {"input-filter", "classifiers+judge", "human-review"}
    assert decided["input-filter"] == content.metrics["filtered"]
    disputed = content.metrics["disputed"]
    assert disputed == decided["human-review"] > 0
    # A disputed item is not acceptable until people decide: it never passes silently.
    assert content.metrics["unacceptable"] >= disputed
    assert content.details["banks"]["sample"] is True

    # The judge ran as a child run rating exactly the answers given, with the safety rubric.
    [ratings] = eng.evidence(model, kind="ratings")
    assert ratings.details["rubric"] == "safety" and ratings.details["answers_given"] is True
    assert set(ratings.details["scores"]) == set(
        content.details["disputed_ids"]
    ) | {  # every item the filter let through was rated
        row["id"]
        for row in _rows(eng, content.artifacts["content_sample.jsonl"], tmp_path)
        if not row["filtered"]
    }
    assert eng.run(ratings.run_id).info["parent_run"] == outcome.run_id

    # The disputed items are a dataset version a validator samples for review.
    review_ref = outcome.output("review")
    records = _rows(eng, eng.get(review_ref).digest, tmp_path, export=review_ref)
    assert sorted(r["id"] for r in records) == sorted(content.details["disputed_ids"])
    assert all(r["prompt"] and "judge:" in r["reasons"][-1] for r in records)
    validator = workspace.as_user("val", "validator")
    review = validator.annotation.sample_review(review_ref, size=len(records), seed=0)
    assert review.size == disputed


def _rows(ws: object, digest: str, tmp_path: Path, export: str | None = None) -> list[dict]:
    target = tmp_path / f"rows-{len(list(tmp_path.iterdir()))}.jsonl"
    if export is not None:
        path = ws.export(export, target)  # type: ignore[attr-defined]
    else:
        path = ws.artifacts.export_file(digest, target)  # type: ignore[attr-defined]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
