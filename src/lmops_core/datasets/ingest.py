"""Validating a dataset file and writing its canonical JSONL form, in one streaming pass."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmops_core.datasets.card import CardBuilder
from lmops_core.datasets.readers import DEFAULT_MAX_RECORD_BYTES, iter_records, too_large
from lmops_core.datasets.shapes import SHAPES, RecordError, text_fields, validate_record
from lmops_core.errors import ValidationError

#: Most examples of dropped records a validation reports.
MAX_REPORTED = 20


@dataclass(frozen=True, kw_only=True)
class Ingested:
    """What validating a dataset learned: records kept and dropped, and the card."""

    records: int
    dropped: int
    dropped_examples: list[str]
    card_metrics: dict[str, Any]
    card_details: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class IngestResult(Ingested):
    """The canonical file written, and what was learned on the way."""

    path: Path
    digest: str
    size_bytes: int


def check_shape(shape: str) -> None:
    """Refuse a shape lmops does not know, naming the ones it does."""
    if shape not in SHAPES:
        raise ValidationError(
            f"unknown dataset shape {shape!r} (expected one of {', '.join(SHAPES)})", field="shape"
        )


def canonical_line(record: Any) -> bytes:
    """One record as canonical JSON (sorted keys, compact, UTF-8) plus newline."""
    return canonical_json(record) + b"\n"


def canonical_json(record: Any) -> bytes:
    """One record as canonical JSON (sorted keys, compact, UTF-8), without the newline."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


class CanonicalRecords:
    """The valid records of dataset files as canonical JSON, refusing or dropping bad ones.

    One instance may read several files (the partitions of one dataset): the
    dropped count and examples add up across them.
    """

    def __init__(
        self,
        *,
        shape: str,
        drop_invalid: bool = False,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    ) -> None:
        check_shape(shape)
        self.shape = shape
        self.drop_invalid = drop_invalid
        self.max_record_bytes = max_record_bytes
        self.dropped = 0
        self.examples: list[str] = []

    def read(self, source: Path, fmt: str | None = None) -> Iterator[tuple[bytes, Any]]:
        """``(canonical JSON without newline, record)`` for each valid record of ``source``.

        The first invalid record raises :class:`ValidationError` naming file,
        line and field, unless ``drop_invalid`` (then it is counted and skipped).
        """
        limit = self.max_record_bytes
        for where, record, parse_error in iter_records(source, fmt, max_record_bytes=limit):
            problem = parse_error
            body = b""
            if problem is None:
                try:
                    validate_record(self.shape, record)
                except RecordError as err:
                    problem = f"{err.field}: {err.message}"
            if problem is None:
                body = canonical_json(record)
                if len(body) > limit:
                    problem, body = too_large(limit), b""
            if problem is not None:
                message = f"{where}: {problem}"
                if not self.drop_invalid:
                    raise ValidationError(message, file=str(source), location=where)
                self.dropped += 1
                if len(self.examples) < MAX_REPORTED:
                    self.examples.append(message)
                continue
            yield body, record
            body, record = b"", None  # no copy of a large record kept while the next is read

    def texts(self, record: Any) -> list[str]:
        """The text fields of a valid record, for its card."""
        return [t for _, t in text_fields(self.shape, record)]


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
    records = CanonicalRecords(
        shape=shape, drop_invalid=drop_invalid, max_record_bytes=max_record_bytes
    )
    if not source.is_file():
        raise ValidationError(f"dataset file {source} does not exist", file=str(source))
    fd, tmp_name = tempfile.mkstemp(prefix="dataset-", suffix=".jsonl", dir=tmp_dir)
    out_path = Path(tmp_name)
    h = hashlib.sha256()
    card = CardBuilder(shape, token_counter)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            last_pos = 0
            for body, record in records.read(source, fmt):
                # The record and its newline are written apart: no copy of a large record.
                out.write(body)
                out.write(b"\n")
                h.update(body)
                h.update(b"\n")
                size += len(body) + 1
                card.add(body, records.texts(record))
                body, record = b"", None
                if progress is not None and card.records % 1000 == 0:
                    progress(size - last_pos)
                    last_pos = size
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
        dropped=records.dropped,
        dropped_examples=records.examples,
        card_metrics=card.metrics(digest),
        card_details=card.details(),
    )
