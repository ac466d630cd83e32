"""Streaming readers for dataset files: JSONL (by line) and Parquet (by row group)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lmops_core.errors import ValidationError

FORMATS = ("jsonl", "parquet")


def detect_format(path: Path) -> str:
    """``jsonl`` or ``parquet``, from the file's first bytes (not its name)."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == b"PAR1":
        return "parquet"
    return "jsonl"


def iter_jsonl(path: Path) -> Iterator[tuple[str, Any, str | None]]:
    """``(location, record or None, parse error or None)`` per non-blank line."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            where = f"{path.name}:{number}"
            if not raw.strip():
                continue
            try:
                yield where, json.loads(raw), None
            except UnicodeDecodeError as exc:
                yield where, None, f"not UTF-8 text ({exc.reason})"
            except json.JSONDecodeError as exc:
                yield where, None, f"invalid JSON ({exc.msg} at column {exc.colno})"


def iter_parquet(path: Path, *, batch_rows: int = 10_000) -> Iterator[tuple[str, Any, str | None]]:
    """``(location, record, None)`` per row, read in batches (constant memory)."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - pyarrow is a core dependency
        raise ValidationError("reading Parquet needs pyarrow") from exc
    row = 0
    parquet = pq.ParquetFile(path)
    for batch in parquet.iter_batches(batch_size=batch_rows):
        for record in batch.to_pylist():
            row += 1
            yield f"{path.name}:row {row}", record, None


def iter_records(path: Path, fmt: str | None = None) -> Iterator[tuple[str, Any, str | None]]:
    """Records of a dataset file with their location for error messages."""
    fmt = fmt or detect_format(path)
    if fmt == "jsonl":
        return iter_jsonl(path)
    if fmt == "parquet":
        return iter_parquet(path)
    raise ValidationError(f"unsupported dataset format {fmt!r} (expected jsonl or parquet)",
                          field="format")
