"""Reading a JSONL window in chunks, optionally only a chosen subset of its rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from lmops_core.errors import ValidationError

Row = tuple[int, dict[str, Any]]
"""A record with its 1-based line number in the file (for error messages)."""


def count_rows(path: Path) -> int:
    """The number of non-blank lines of ``path`` (one record each)."""
    count = 0
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                count += 1
    return count


def read_columns(path: Path, fields: dict[str, pa.DataType], rows: int) -> pa.Table | None:
    """``fields`` of every record of ``path``, parsed by Arrow's JSON reader, or None.

    None whenever the result might differ from parsing line by line (a value of
    another type than ``fields`` says, a line that is not one JSON object, invalid
    UTF-8 in a field read, a record count other than ``rows``): the caller then
    parses line by line, which names the line at fault or gives the same values.
    """
    options = pajson.ParseOptions(
        explicit_schema=pa.schema(list(fields.items())), unexpected_field_behavior="ignore"
    )
    try:
        table = pajson.read_json(
            path, read_options=pajson.ReadOptions(block_size=4 << 20), parse_options=options
        )
        table.validate(full=True)
    except (pa.ArrowException, UnicodeDecodeError):
        return None
    return table if table.num_rows == rows else None


def iter_chunks(
    path: Path, chunk_size: int, selected: np.ndarray | None = None
) -> Iterator[list[Row]]:
    """Yield lists of at most ``chunk_size`` parsed records of ``path``.

    ``selected`` is a sorted array of row ordinals (0-based, blank lines not
    counted) to keep; other rows are skipped without being parsed, which is
    what makes sampling a large window cheap. Every record must be a JSON
    object: anything else raises a ValidationError naming file and line.
    """
    chunk: list[Row] = []
    ordinal = -1
    cursor = 0
    wanted = len(selected) if selected is not None else -1
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            ordinal += 1
            if selected is not None:
                if cursor >= wanted:
                    break
                if selected[cursor] != ordinal:
                    continue
                cursor += 1
            chunk.append((line_no, parse_line(path, line_no, raw)))
            if len(chunk) >= chunk_size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def parse_line(path: Path, line_no: int, raw: bytes) -> dict[str, Any]:
    """Parse one JSONL line into a dict, or raise a ValidationError naming it."""
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(
            f"{path}, line {line_no}: not valid JSON ({exc})", file=str(path), line=line_no
        ) from exc
    if not isinstance(record, dict):
        raise ValidationError(
            f"{path}, line {line_no}: expected a JSON object, got {type(record).__name__}",
            file=str(path),
            line=line_no,
        )
    return record
