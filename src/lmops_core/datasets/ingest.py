"""Validating a dataset file and writing its canonical JSONL form, in one streaming pass."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmops_core.datasets.card import CardBuilder
from lmops_core.datasets.readers import DEFAULT_MAX_RECORD_BYTES, iter_records, too_large
from lmops_core.datasets.shapes import SHAPES, RecordError, text_fields, validate_record
from lmops_core.errors import ValidationError

_MAX_REPORTED = 20


@dataclass(frozen=True)
class IngestResult:
    """The canonical file written, and what was learned on the way."""

    path: Path
    digest: str
    size_bytes: int
    records: int
    dropped: int
    dropped_examples: list[str]
    card_metrics: dict[str, Any]
    card_details: dict[str, Any]


def canonical_line(record: Any) -> bytes:
    """One record as canonical JSON (sorted keys, compact, UTF-8) plus newline."""
    return canonical_json(record) + b"\n"


def canonical_json(record: Any) -> bytes:
    """One record as canonical JSON (sorted keys, compact, UTF-8), without the newline."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def ingest_file(
    source: Path,
    *,
    shape: str,
    tmp_dir: Path,
    drop_invalid: bool = False,
    fmt: str | None = None,
    token_counter: Callable[[str], int] | None = None,
    progress: Callable[[int], None] | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> IngestResult:
    """Validate every record of ``source`` and write the canonical JSONL to ``tmp_dir``.

    The first invalid record raises :class:`ValidationError` naming file, line and
    field, unless ``drop_invalid`` (then invalid records are counted and skipped).
    Memory stays constant in the file size (bar the duplicate-detection set) and
    within a small multiple of ``max_record_bytes`` per record: a longer record
    is refused without being read into memory.
    """
    if shape not in SHAPES:
        raise ValidationError(
            f"unknown dataset shape {shape!r} (expected one of {', '.join(SHAPES)})", field="shape"
        )
    if not source.is_file():
        raise ValidationError(f"dataset file {source} does not exist", file=str(source))
    fd, tmp_name = tempfile.mkstemp(prefix="dataset-", suffix=".jsonl", dir=tmp_dir)
    out_path = Path(tmp_name)
    h = hashlib.sha256()
    card = CardBuilder(shape, token_counter)
    dropped = 0
    examples: list[str] = []
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            last_pos = 0
            for where, record, parse_error in iter_records(
                source, fmt, max_record_bytes=max_record_bytes
            ):
                problem = parse_error
                body = b""
                if problem is None:
                    try:
                        validate_record(shape, record)
                    except RecordError as err:
                        problem = f"{err.field}: {err.message}"
                if problem is None:
                    body = canonical_json(record)
                    if len(body) > max_record_bytes:
                        problem, body = too_large(max_record_bytes), b""
                if problem is not None:
                    message = f"{where}: {problem}"
                    if not drop_invalid:
                        raise ValidationError(message, file=str(source), location=where)
                    dropped += 1
                    if len(examples) < _MAX_REPORTED:
                        examples.append(message)
                    continue
                # The record and its newline are written apart: no copy of a large record.
                out.write(body)
                out.write(b"\n")
                h.update(body)
                h.update(b"\n")
                size += len(body) + 1
                card.add(body, [t for _, t in text_fields(shape, record)])
                body, record = b"", None
                if progress is not None and card.records % 1000 == 0:
                    pos = size
                    progress(pos - last_pos)
                    last_pos = pos
        if card.records == 0:
            raise ValidationError(f"{source.name}: no valid records", file=str(source))
    except BaseException:
        out_path.unlink(missing_ok=True)
        raise
    digest = f"sha256:{h.hexdigest()}"
    return IngestResult(
        path=out_path,
        digest=digest,
        size_bytes=size,
        records=card.records,
        dropped=dropped,
        dropped_examples=examples,
        card_metrics=card.metrics(digest),
        card_details=card.details(),
    )
