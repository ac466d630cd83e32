"""Reading a JSONL window in chunks, optionally only a chosen subset of its rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pajson

from lmops_core.errors import ValidationError

Row = tuple[int, dict[str, Any]]
"""A record with its 1-based line number in the file (for error messages)."""


_BLOCK = 8 << 20
"""Bytes read at a time when counting records."""
_ARROW_BLOCK = 256 << 10
"""Bytes of JSON Arrow's reader parses into one record batch, unless a line is longer (see
:func:`arrow_block`). Its reader holds about 36 times that at once (1 MiB: 37 MiB, 256 KiB:
9 MiB, measured), for the same CPU."""
_NEWLINE = ord("\n")
_WHITE = np.zeros(256, dtype=bool)
_WHITE[list(b" \t\n\r\x0b\x0c")] = True
"""The bytes ``bytes.strip`` removes."""


@dataclass(frozen=True)
class LineCount:
    """What counting a JSONL window's lines found."""

    records: int
    """Non-blank lines."""
    longest: int
    """Bytes of the longest line, its newline not counted."""


def arrow_block(longest: int) -> int:
    """Bytes of JSON per batch of Arrow's reader for a window whose longest line has
    ``longest`` bytes: small, as the reader's memory grows with it, but room for two such
    lines (Arrow refuses a record that does not fit into a block)."""
    return max(_ARROW_BLOCK, 2 * (longest + 1))


def count_rows(path: Path) -> int:
    """The number of non-blank lines of ``path`` (one record each); see :func:`count_lines`."""
    return count_lines(path).records


def count_lines(path: Path) -> LineCount:
    """The non-blank lines of ``path`` (one record each), and its longest line.

    The whole file must be UTF-8, including fields no descriptor reads (Arrow's
    JSON reader does not check those): otherwise a ValidationError names the
    first line that is not.
    """
    count = lines = position = longest = 0
    size = _BLOCK
    with path.open("rb") as handle:
        while block := handle.read(size):
            # Whole lines only, so no character is cut in two; the rest is read again.
            end = block.rfind(b"\n") + 1
            if not end and len(block) == size:
                size *= 2  # a line longer than the block: read it whole
                handle.seek(position)
                continue
            if not end:  # the last line, without a newline
                block, end = block + b"\n", len(block) + 1
            lines, count, longest = _count_lines(path, block, end, lines, count, longest)
            position += end
            handle.seek(position)
            size = _BLOCK
    return LineCount(count, longest)


def _count_lines(
    path: Path, block: bytes, end: int, before: int, count: int, longest: int
) -> tuple[int, int, int]:
    """Lines, non-blank lines and the longest line so far, after the lines of ``block[:end]``
    (newline-terminated; ``before`` lines and ``count`` non-blank ones precede them, the
    longest of ``longest`` bytes). Nothing is copied."""
    _check_utf8(path, block, end, before)
    view = np.frombuffer(block, dtype=np.uint8, count=end)
    newlines = np.flatnonzero(view == _NEWLINE)
    starts = np.concatenate(([0], newlines[:-1] + 1))
    # Only a line that starts with white space (or is empty) can be blank: look at those.
    maybe = np.flatnonzero(_WHITE[view[starts]])
    blank = sum(1 for line in maybe if not block[starts[line] : newlines[line]].strip())
    longest = max(longest, int((newlines - starts).max()))
    return before + len(newlines), count + len(newlines) - blank, longest


def _check_utf8(path: Path, lines: bytes, end: int, before: int) -> None:
    """Raise a ValidationError naming the first line of ``lines[:end]`` that is not UTF-8."""
    offsets = pa.array([0, end], type=pa.int64()).buffers()[1]
    text = pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, pa.py_buffer(lines)])
    try:
        text.validate(full=True)  # Arrow's vectorised UTF-8 check of the whole block
    except pa.ArrowInvalid:
        pass
    else:
        return
    for number, line in enumerate(lines[:end].split(b"\n"), start=before + 1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(
                f"{path}, line {number}: not valid JSON (invalid UTF-8: {exc.reason}"
                f" at byte {exc.start + 1} of the line)",
                file=str(path),
                line=number,
            ) from exc
    raise ValidationError(f"{path}: not valid UTF-8", file=str(path))  # pragma: no cover


def reader_pool() -> pa.MemoryPool:
    """The allocator of Arrow's JSON reader: jemalloc where pyarrow has it, else its default.

    pyarrow's default (mimalloc in its Linux wheels) cost the first large window read in a
    process about 0.25 s of system time more than later ones (both 100k-row windows, in a
    process warmed by one run on 200-row windows: frames 0.86 s and 0.38 system-s, then
    0.68-0.71 s and 0.1); with jemalloc for the reader, the benchmark's lmops child built its
    frames in 0.74-0.79 s instead of 0.81-0.88 (three each, alternating), peak RSS alike.
    """
    try:
        return pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        return pa.default_memory_pool()


@dataclass
class ArrowLines:
    """The ``fields`` of every record of the window at ``path``, as Arrow's JSON reader
    streams them (record batches of ``block_size`` bytes of JSON each).

    Iterating stops early, and sets ``failed``, whenever the values might differ
    from parsing line by line (a value of another type than ``fields`` says, a
    line that is not one JSON object, invalid UTF-8 in a field read); the caller
    then parses line by line, which names the line at fault or gives the same
    values; so it does too when ``rows`` (records read) differs from its own count.
    """

    path: Path
    fields: dict[str, pa.DataType]
    block_size: int = 0
    """Bytes of JSON per batch (0: :data:`_ARROW_BLOCK`)."""
    utf8_checked: bool = False
    """Whether the whole file is known to be UTF-8 (see :func:`count_lines`): the strings
    read then need no second check."""
    failed: bool = False
    rows: int = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        options = pajson.ParseOptions(
            explicit_schema=pa.schema(list(self.fields.items())),
            unexpected_field_behavior="ignore",
        )
        # One thread: Arrow's parallel parse costs ~15% more CPU (measured); drift runs
        # measure text fields side by side instead.
        block = self.block_size or _ARROW_BLOCK
        reading = pajson.ReadOptions(block_size=block, use_threads=False)
        try:
            for batch in pajson.open_json(
                self.path, read_options=reading, parse_options=options, memory_pool=reader_pool()
            ):
                if not self.utf8_checked:
                    batch.validate(full=True)  # Arrow's reader does not check UTF-8
                self.rows += batch.num_rows
                yield batch
        except (pa.ArrowException, UnicodeDecodeError):
            self.failed = True


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
