"""Streaming readers for dataset files: JSONL (by line) and Parquet (by row group).

Every reader yields ``(location, record or None, problem or None)``; a problem
is a reason for ``file:line: reason``. Memory is bounded by the record-size cap:
a line longer than the cap is never held in memory, only counted and skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from lmops_core.datasets.records import RecordJSONError, check_value, parse_record
from lmops_core.errors import ValidationError
from lmops_core.extras import require

FORMATS = ("jsonl", "parquet")
#: Default record-size cap (the ``LMOPS_MAX_RECORD_BYTES`` setting).
DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024
_SKIP_CHUNK = 1024 * 1024

Item = tuple[str, Any, str | None]


def detect_format(path: Path) -> str:
    """``jsonl`` or ``parquet``, from the file's first bytes (not its name)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == b"PAR1":
        return "parquet"
    return "jsonl"


def too_large(limit: int) -> str:
    """The reason given for a record over the cap."""
    return (
        f"record is larger than {limit} bytes (raise LMOPS_MAX_RECORD_BYTES "
        "to accept larger records)"
    )


def _skip_rest_of_line(fh: BinaryIO) -> None:
    while chunk := fh.readline(_SKIP_CHUNK):
        if chunk.endswith(b"\n"):
            return


def iter_jsonl(path: Path, *, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[Item]:
    """One item per non-blank line; lines over ``max_record_bytes`` are refused unread."""
    with open(path, "rb") as fh:
        number = 0
        while raw := fh.readline(max_record_bytes + 1):
            number += 1
            where = f"{path.name}:{number}"
            if len(raw) > max_record_bytes and not raw.endswith(b"\n"):
                raw = b""
                _skip_rest_of_line(fh)
                yield where, None, too_large(max_record_bytes)
                continue
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield where, None, f"not UTF-8 text ({exc.reason} at byte {exc.start + 1})"
                continue
            raw = b""  # drop the bytes before parsing: only one copy of a large line at a time
            try:
                record = parse_record(text)
            except RecordJSONError as exc:
                yield where, None, str(exc)
                continue
            text = ""
            yield where, record, None


#: The one column of a canonical partition (:mod:`lmops_core.datasets.partitions`).
CANONICAL_COLUMN = "lmops_canonical_json"


def is_canonical_partition(schema: Any) -> bool:
    """Whether a Parquet file's Arrow schema is that of a canonical partition."""
    return bool(schema.names == [CANONICAL_COLUMN] and str(schema.field(0).type) == "string")


def _rows(parquet: Any, batch_rows: int) -> Iterator[tuple[Any, str | None]]:
    """``(record, problem)`` per row; a canonical partition's rows are parsed as strict JSON."""
    canonical = is_canonical_partition(parquet.schema_arrow)
    for batch in parquet.iter_batches(batch_size=batch_rows):
        if not canonical:
            for record in batch.to_pylist():
                try:
                    check_value(record)
                except RecordJSONError as exc:
                    yield None, str(exc)
                    continue
                yield record, None
            continue
        for text in batch.column(0).to_pylist():
            try:
                yield parse_record(text), None
            except RecordJSONError as exc:
                yield None, str(exc)


def iter_parquet(path: Path, *, batch_rows: int = 10_000) -> Iterator[Item]:
    """One item per row, read in batches (constant memory); an unreadable file raises.

    A canonical partition (one string column of canonical JSON) yields the records its
    rows hold; any other Parquet file yields each row as a record.
    """
    pa = require("pyarrow", extra="parquet", feature=f"reading the Parquet file {path.name}")
    pq = require(
        "pyarrow.parquet", extra="parquet", feature=f"reading the Parquet file {path.name}"
    )
    row = 0
    try:
        parquet = pq.ParquetFile(path)
        for record, problem in _rows(parquet, batch_rows):
            row += 1
            yield f"{path.name}:row {row}", record, problem
    except (pa.ArrowException, OSError, ValueError) as exc:
        where = f"{path.name}:row {row + 1}" if row else path.name
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(
            f"{where}: not a readable Parquet file ({reason})", file=str(path), location=where
        ) from None


def iter_records(
    path: Path, fmt: str | None = None, *, max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
) -> Iterator[Item]:
    """Records of a dataset file with their location for error messages."""
    fmt = fmt or detect_format(path)
    if fmt == "jsonl":
        return iter_jsonl(path, max_record_bytes=max_record_bytes)
    if fmt == "parquet":
        return iter_parquet(path)
    raise ValidationError(
        f"unsupported dataset format {fmt!r} (expected jsonl or parquet)", field="format"
    )
