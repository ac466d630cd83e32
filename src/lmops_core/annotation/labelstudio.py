"""Label Studio's JSON formats: tasks to import, and the export of completed tasks.

A task is ``{"data": {...}, "predictions": [...]}``: ``data`` holds the record's
fields (what a labelling configuration shows as ``$prompt``, ``$response``...) and
``lmops_*`` keys that tie it back to the record: the version's reference, the
record's line (``lmops_index``, from 0) and the SHA-256 of its canonical line.
An export is the list of tasks again, each with ``annotations``: every one has a
``completed_by`` (Label Studio's user id, or an object holding it) and a
``result`` list whose items carry ``type`` and ``value``:

* labels: ``{"type": "choices", "value": {"choices": ["billing"]}}``;
* preference pairs: ``{"type": "pairwise", "value": {"selected": "left"}}``;
* ratings: ``{"type": "rating", "value": {"rating": 4}}``.

Only the user id is read from ``completed_by``: an annotator becomes ``ls:<id>``,
and names or e-mail addresses in an export are never read or kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from lmops_core.errors import ValidationError

AnnotationType = Literal["labels", "preference", "rating"]
ANNOTATION_TYPES: tuple[str, ...] = get_args(AnnotationType)
#: The ``type`` of the result item each annotation type reads.
RESULT_TYPES: dict[str, str] = {"labels": "choices", "preference": "pairwise", "rating": "rating"}
#: The ``from_name`` / ``to_name`` of predictions written with the tasks.
FROM_NAME = "label"
TO_NAME = "text"

Vote = str | float


def record_digest(line: bytes) -> str:
    """``sha256:<hex>`` of one canonical record line (without its newline)."""
    return "sha256:" + hashlib.sha256(line).hexdigest()


def check_type(kind: str) -> AnnotationType:
    """``kind`` as an annotation type, or refused naming the known ones."""
    if kind not in ANNOTATION_TYPES:
        raise ValidationError(
            f"unknown annotation type {kind!r} (expected one of {', '.join(ANNOTATION_TYPES)})",
            field="type",
        )
    return kind  # type: ignore[return-value]


def task_for(
    record: Mapping[str, Any],
    *,
    index: int,
    line: bytes,
    ref: str,
    kind: AnnotationType,
    label_field: str,
    candidates: tuple[str, str],
) -> dict[str, Any]:
    """One Label Studio task for ``record`` (line ``index`` of ``ref``).

    A label the record already holds in ``label_field`` goes with it as a
    prediction, so annotators correct rather than start from nothing. Preference
    tasks show ``candidates`` as ``left`` and ``right``.
    """
    data: dict[str, Any] = {
        **{k: v for k, v in record.items() if not k.startswith("lmops_")},
        "lmops_ref": ref,
        "lmops_index": index,
        "lmops_record_digest": record_digest(line),
    }
    task: dict[str, Any] = {"data": data}
    if kind == "preference":
        left, right = candidates
        for side, name in (("left", left), ("right", right)):
            if not isinstance(record.get(name), str):
                raise ValidationError(
                    f"{ref} line {index + 1}: {name}: a preference task needs two text "
                    f"candidates, the fields {left!r} and {right!r}",
                    field=name,
                )
            data[side] = record[name]
        data["lmops_candidates"] = [left, right]
    elif kind == "labels" and isinstance(record.get(label_field), str):
        task["predictions"] = [
            {
                "model_version": ref,
                "result": [
                    {
                        "from_name": FROM_NAME,
                        "to_name": TO_NAME,
                        "type": "choices",
                        "value": {"choices": [record[label_field]]},
                    }
                ],
            }
        ]
    return task


@dataclass(frozen=True)
class TaskVotes:
    """What the annotators of one exported task said about one record."""

    index: int
    record_digest: str
    #: annotator id -> label (labels), ``"left"``/``"right"`` (preference), number (rating)
    votes: dict[str, Vote]


def _fail(file: str, task: int, field: str, message: str) -> ValidationError:
    return ValidationError(f"{file}: task {task}: {field}: {message}", file=file, field=field)


def annotator_id(value: Any) -> str | None:
    """``ls:<id>`` for a ``completed_by`` (a numeric user id, or an object holding it as
    ``id``); None for anything else, so that no name or e-mail address becomes an id."""
    if isinstance(value, Mapping):
        value = value.get("id")
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return f"ls:{value}"


def _vote(kind: AnnotationType, results: Any, where: str, fail: Any) -> Vote:
    if not isinstance(results, list):
        raise fail(f"{where}.result", "must be a list")
    wanted = RESULT_TYPES[kind]
    found = [(i, r) for i, r in enumerate(results) if isinstance(r, Mapping)]
    found = [(i, r) for i, r in found if r.get("type") == wanted]
    if len(found) != 1:
        raise fail(f"{where}.result", f"expected one result of type {wanted!r}, got {len(found)}")
    i, item = found[0]
    value = item.get("value")
    field = f"{where}.result[{i}].value"
    if not isinstance(value, Mapping):
        raise fail(field, "must be an object")
    if kind == "labels":
        choices = value.get("choices")
        if not isinstance(choices, list) or len(choices) != 1 or not isinstance(choices[0], str):
            raise fail(f"{field}.choices", "must be a list of exactly one label")
        return choices[0]
    if kind == "preference":
        selected = value.get("selected")
        if selected not in ("left", "right"):
            raise fail(f"{field}.selected", f"must be 'left' or 'right', got {selected!r}")
        return str(selected)
    rating = value.get("rating")
    if isinstance(rating, bool) or not isinstance(rating, int | float):
        raise fail(f"{field}.rating", f"must be a number, got {rating!r}")
    return float(rating)


def _task_votes(task: Any, n: int, file: str, kind: AnnotationType) -> TaskVotes:
    def fail(field: str, message: str) -> ValidationError:
        return _fail(file, n, field, message)

    if not isinstance(task, Mapping):
        raise fail("<task>", "must be an object")
    data = task.get("data")
    if not isinstance(data, Mapping):
        raise fail("data", "must be an object")
    index = data.get("lmops_index")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise fail("data.lmops_index", "missing or not a record index (tasks come from lmops)")
    digest = data.get("lmops_record_digest")
    if not isinstance(digest, str):
        raise fail("data.lmops_record_digest", "missing (tasks come from lmops)")
    annotations = task.get("annotations", [])
    if not isinstance(annotations, list):
        raise fail("annotations", "must be a list")
    votes: dict[str, Vote] = {}
    for a, annotation in enumerate(annotations):
        where = f"annotations[{a}]"
        if not isinstance(annotation, Mapping):
            raise fail(where, "must be an object")
        if annotation.get("was_cancelled") is True:
            continue  # skipped by the annotator: no answer
        who = annotator_id(annotation.get("completed_by"))
        if who is None:
            raise fail(f"{where}.completed_by", "missing or not a user id")
        if who in votes:
            raise fail(f"{where}.completed_by", f"annotator {who} answered this task twice")
        votes[who] = _vote(kind, annotation.get("result"), where, fail)
    return TaskVotes(index=index, record_digest=digest, votes=votes)


def parse_export(raw: bytes, *, kind: AnnotationType, file: str) -> list[TaskVotes]:
    """The votes in a Label Studio JSON export, task by task, or ``ValidationError``
    naming the file, the task's position in it (from 0) and the field."""
    try:
        tasks = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(f"{file}: not a JSON document ({exc})", file=file) from None
    if not isinstance(tasks, list):
        raise ValidationError(f"{file}: expected a JSON list of tasks", file=file)
    parsed = [_task_votes(task, n, file, kind) for n, task in enumerate(tasks)]
    seen: dict[int, int] = {}
    for n, task in enumerate(parsed):
        if task.index in seen:
            raise _fail(
                file, n, "data.lmops_index", f"record {task.index} is also task {seen[task.index]}"
            )
        seen[task.index] = n
    return parsed


def normalised(tasks: Sequence[TaskVotes], *, kind: str, ref: str) -> dict[str, Any]:
    """What is kept of an export: per task, the record and each annotator id's answer."""
    return {
        "format": "lmops.annotations/1",
        "type": kind,
        "source": ref,
        "tasks": [
            {
                "index": t.index,
                "record_digest": t.record_digest,
                "votes": dict(sorted(t.votes.items())),
            }
            for t in sorted(tasks, key=lambda t: t.index)
        ],
    }
