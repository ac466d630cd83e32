"""Reading dataset versions (canonical JSONL or partitions) with errors naming file, line, field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lmops_core.errors import ValidationError
from lmops_core.kit import dataset_parts, part_lines

ROLES = ("system", "user", "assistant")


def _fail(path: Path, line: int, message: str, field: str | None = None) -> ValidationError:
    return ValidationError(f"{path}:{line}: {message}", file=str(path), line=line, field=field)


def _string(path: Path, line: int, obj: dict[str, Any], name: str, required: bool = True) -> None:
    if name not in obj:
        if required:
            raise _fail(path, line, f"missing field {name!r}", name)
        return
    if not isinstance(obj[name], str):
        raise _fail(path, line, f"field {name!r} must be a string", name)
    if required and not obj[name].strip():
        raise _fail(path, line, f"field {name!r} is empty", name)


def _check_dialogue(path: Path, line: int, obj: dict[str, Any]) -> None:
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _fail(path, line, "field 'messages' must be a non-empty list", "messages")
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise _fail(path, line, f"{where} must be an object", where)
        if m.get("role") not in ROLES:
            raise _fail(path, line, f"{where}.role must be one of {', '.join(ROLES)}", where)
        if not isinstance(m.get("content"), str):
            raise _fail(path, line, f"{where}.content must be a string", where)
    if not any(m["role"] == "assistant" for m in messages):
        raise _fail(path, line, "dialogue has no assistant message to learn from", "messages")


def _check(kind: str, path: Path, line: int, obj: dict[str, Any]) -> None:
    if kind == "instruction":
        _string(path, line, obj, "prompt")
        _string(path, line, obj, "response")
        _string(path, line, obj, "system", required=False)
    elif kind == "preference":
        for name in ("prompt", "chosen", "rejected"):
            _string(path, line, obj, name)
        _string(path, line, obj, "system", required=False)
    elif kind == "dialogue":
        _check_dialogue(path, line, obj)
    else:  # pragma: no cover - callers pass a kind they accept
        raise ValidationError(f"unsupported dataset kind {kind!r}", field="kind")


def read_records(path: Path, kind: str) -> list[dict[str, Any]]:
    """All records of a dataset of shape ``kind``, each one checked: a JSONL file, or a
    partitioned version's folder, read one partition at a time (errors name the partition
    and its row)."""
    if not path.exists():
        raise ValidationError(f"dataset file not found: {path}", file=str(path))
    records: list[dict[str, Any]] = []
    for _, part in dataset_parts(path):
        for number, raw in part_lines(part):
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise _fail(part, number, f"invalid JSON: {exc.msg}") from None
            if not isinstance(obj, dict):
                raise _fail(part, number, "each line must be a JSON object")
            _check(kind, part, number, obj)
            records.append(obj)
    if not records:
        raise ValidationError(f"dataset is empty: {path}", file=str(path))
    return records
