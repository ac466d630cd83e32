"""Label Studio tasks out, exports in: the formats, and a malformed export named exactly."""

from __future__ import annotations

import functools
import json
from typing import Any

import pytest

from lmops_core.annotation.labelstudio import (
    annotator_id,
    normalised,
    parse_export,
    record_digest,
    task_for,
)
from lmops_core.errors import ValidationError

LINE = b'{"prompt":"q","response":"a","label":"billing"}'


def _task(**annotation: Any) -> dict[str, Any]:
    data = {"prompt": "q", "lmops_index": 0, "lmops_record_digest": record_digest(LINE)}
    return {"data": data, "annotations": [annotation]}


def _choice(label: str = "billing") -> list[dict[str, Any]]:
    return [{"type": "choices", "value": {"choices": [label]}}]


def test_a_labels_task_carries_the_record_and_its_label_as_a_prediction() -> None:
    task = task_for(
        json.loads(LINE),
        index=0,
        line=LINE,
        ref="dataset:t@1",
        kind="labels",
        label_field="label",
        candidates=("chosen", "rejected"),
    )
    assert task["data"]["prompt"] == "q" and task["data"]["lmops_index"] == 0
    assert task["data"]["lmops_record_digest"] == record_digest(LINE)
    (prediction,) = task["predictions"]
    assert prediction["result"][0]["value"] == {"choices": ["billing"]}
    assert prediction["model_version"] == "dataset:t@1"


def test_a_preference_task_shows_the_candidates_left_and_right() -> None:
    record = {"prompt": "q", "chosen": "A", "rejected": "B"}
    pair = functools.partial(
        task_for,
        record,
        index=3,
        line=b"{}",
        ref="dataset:p@1",
        kind="preference",
        label_field="label",
    )
    task = pair(candidates=("chosen", "rejected"))
    assert (task["data"]["left"], task["data"]["right"]) == ("A", "B")
    assert "predictions" not in task
    with pytest.raises(ValidationError, match="line 4: answer_b: a preference task needs"):
        pair(candidates=("chosen", "answer_b"))


def test_annotators_are_ids_only() -> None:
    assert annotator_id(7) == "ls:7"
    assert annotator_id({"id": 7, "email": "ann@bank.example", "first_name": "Ann"}) == "ls:7"
    assert annotator_id({"email": "ann@bank.example"}) is None
    assert annotator_id(True) is None
    assert annotator_id("12") == "ls:12"
    assert annotator_id("ann@bank.example") is None  # an e-mail is never an id
    assert annotator_id({"id": "ann"}) is None
    raw = json.dumps(
        [_task(completed_by={"id": 7, "email": "ann@bank.example"}, result=_choice())]
    ).encode()
    tasks = parse_export(raw, kind="labels", file="export.json")
    kept = json.dumps(normalised(tasks, kind="labels", ref="dataset:t@1"))
    assert "ls:7" in kept and "ann@bank" not in kept and "Ann" not in kept


def test_each_type_reads_its_result() -> None:
    rows = [
        ("labels", _choice("cards"), "cards"),
        ("preference", [{"type": "pairwise", "value": {"selected": "right"}}], "right"),
        ("rating", [{"type": "rating", "value": {"rating": 4}}], 4.0),
    ]
    for kind, result, expected in rows:
        raw = json.dumps([_task(completed_by=1, result=result)]).encode()
        (task,) = parse_export(raw, kind=kind, file="e.json")  # type: ignore[arg-type]
        assert task.votes == {"ls:1": expected}, kind


def test_cancelled_annotations_are_not_answers() -> None:
    raw = json.dumps([_task(completed_by=1, result=[], was_cancelled=True)]).encode()
    (task,) = parse_export(raw, kind="labels", file="e.json")
    assert task.votes == {}


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ({"not": "a list"}, "e.json: expected a JSON list of tasks"),
        (["x"], "e.json: task 0: <task>: must be an object"),
        ([{"data": {}}], "e.json: task 0: data.lmops_index: missing"),
        (
            [{"data": {"lmops_index": 0}}],
            "e.json: task 0: data.lmops_record_digest: missing",
        ),
        (
            [{"data": {"lmops_index": 0, "lmops_record_digest": "x"}, "annotations": {}}],
            "e.json: task 0: annotations: must be a list",
        ),
        ([_task(result=_choice())], "task 0: annotations[0].completed_by: missing"),
        ([_task(completed_by=1, result="x")], "task 0: annotations[0].result: must be a list"),
        (
            [_task(completed_by=1, result=[{"type": "rating", "value": {"rating": 3}}])],
            "task 0: annotations[0].result: expected one result of type 'choices', got 0",
        ),
        (
            [_task(completed_by=1, result=[{"type": "choices", "value": {"choices": ["a", "b"]}}])],
            "task 0: annotations[0].result[0].value.choices: must be a list of exactly one label",
        ),
        (
            [_task(completed_by=1, result=_choice()), _task(completed_by=1, result=_choice())],
            "task 1: data.lmops_index: record 0 is also task 0",
        ),
    ],
)
def test_a_malformed_export_names_the_task_and_field(tasks: Any, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse_export(json.dumps(tasks).encode(), kind="labels", file="e.json")
    assert message in str(err.value)


def test_one_annotator_twice_on_a_task_is_refused() -> None:
    task = _task(completed_by=2, result=_choice())
    task["annotations"].append({"completed_by": {"id": 2}, "result": _choice("cards")})
    with pytest.raises(
        ValidationError,
        match=r"task 0: annotations\[1\].completed_by: "
        "annotator ls:2 answered this task twice",
    ):
        parse_export(json.dumps([task]).encode(), kind="labels", file="e.json")


def test_bad_values_of_preference_and_rating() -> None:
    pair = _task(completed_by=1, result=[{"type": "pairwise", "value": {"selected": "both"}}])
    with pytest.raises(ValidationError, match=r"value.selected: must be 'left' or 'right'"):
        parse_export(json.dumps([pair]).encode(), kind="preference", file="e.json")
    rating = _task(completed_by=1, result=[{"type": "rating", "value": {"rating": "4"}}])
    with pytest.raises(ValidationError, match=r"value.rating: must be a number, got '4'"):
        parse_export(json.dumps([rating]).encode(), kind="rating", file="e.json")
    with pytest.raises(ValidationError, match="e.json: not a JSON document"):
        parse_export(b"[{", kind="rating", file="e.json")
