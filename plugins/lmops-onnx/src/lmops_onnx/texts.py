"""Texts the compressors measure on: held-out and calibration datasets, built-in prompts.

A dataset version is one canonical JSONL file whose shape is the input's
``kind``; each record becomes one plain text (the fields a language model
would read, joined by newlines).
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from lmops_core.errors import ValidationError

DATASET_KINDS = ("text", "instruction", "dialogue", "preference")


def builtin_heldout_texts() -> list[str]:
    """The small English text shipped with the plugin, one sentence per item."""
    return _data_lines("heldout.txt")


def builtin_prompts() -> list[str]:
    """The fixed prompt set used for latency measurements."""
    return _data_lines("prompts.txt")


def _data_lines(name: str) -> list[str]:
    text = resources.files("lmops_onnx").joinpath("data", name).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_dataset_texts(path: Path, kind: str, *, limit: int | None = None) -> list[str]:
    """Read up to ``limit`` records of a JSONL dataset version as plain texts.

    Raises :class:`ValidationError` naming the file, line and field at fault.
    """
    if kind not in DATASET_KINDS:
        raise ValidationError(
            f"{path}: dataset kind {kind!r} is not one of {', '.join(DATASET_KINDS)}",
            file=str(path),
        )
    texts: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if limit is not None and len(texts) >= limit:
                break
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValidationError(
                    f"{path}:{lineno}: not valid JSON ({exc.msg})", file=str(path), line=lineno
                ) from exc
            if not isinstance(record, dict):
                raise ValidationError(
                    f"{path}:{lineno}: a record must be a JSON object", file=str(path), line=lineno
                )
            text = _record_text(record, kind, path=path, lineno=lineno)
            if text.strip():
                texts.append(text)
    if not texts:
        raise ValidationError(f"{path}: the dataset holds no usable record", file=str(path))
    return texts


def _field(record: dict[str, Any], name: str, *, path: Path, lineno: int) -> str:
    value = record.get(name)
    if not isinstance(value, str):
        raise ValidationError(
            f'{path}:{lineno}: field "{name}" must be a string',
            file=str(path),
            line=lineno,
            field=name,
        )
    return value


def _record_text(record: dict[str, Any], kind: str, *, path: Path, lineno: int) -> str:
    if kind == "text":
        return _field(record, "text", path=path, lineno=lineno)
    if kind == "instruction":
        parts = [
            _field(record, "prompt", path=path, lineno=lineno),
            _field(record, "response", path=path, lineno=lineno),
        ]
        if isinstance(record.get("system"), str):
            parts.insert(0, record["system"])
        return "\n".join(parts)
    if kind == "preference":
        return "\n".join(
            [
                _field(record, "prompt", path=path, lineno=lineno),
                _field(record, "chosen", path=path, lineno=lineno),
            ]
        )
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValidationError(
            f'{path}:{lineno}: field "messages" must be a non-empty list',
            file=str(path),
            line=lineno,
            field="messages",
        )
    contents = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise ValidationError(
                f'{path}:{lineno}: messages[{index}] needs a string "content"',
                file=str(path),
                line=lineno,
                field=f"messages[{index}].content",
            )
        contents.append(message["content"])
    return "\n".join(contents)
