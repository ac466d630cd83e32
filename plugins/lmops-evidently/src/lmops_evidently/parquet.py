"""Reading a Parquet window in record batches, column by column.

Numbers and categories stay columnar from Arrow to numpy / ``pd.Categorical``
(no per-row Python objects), so a million rows of feature columns cost a few
vectorised passes. Only text fields become Python strings, for the descriptor
code. Errors name the file, the 1-based row and the field.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lmops_core.errors import ValidationError
from lmops_evidently.jsonl import Row
from lmops_evidently.schema import category_value


def open_parquet(path: Path) -> pq.ParquetFile:
    """Open ``path`` as Parquet, or raise a ValidationError naming it."""
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise ValidationError(
            f"{path}: not a readable Parquet file ({exc})", file=str(path)
        ) from exc


def parquet_rows(path: Path) -> int:
    """The number of rows of a Parquet file (from its footer: nothing is decoded)."""
    return int(open_parquet(path).metadata.num_rows)


def iter_column_chunks(
    path: Path,
    chunk_size: int,
    selected: np.ndarray | None = None,
    columns: Sequence[str] | None = None,
) -> Iterator[ColumnChunk]:
    """Yield chunks of at most ``chunk_size`` rows of ``path`` (``columns`` only, if given).

    ``selected`` is a sorted array of 0-based row ordinals to keep; the other
    rows are dropped batch by batch, so memory stays about two chunks' worth.
    Names in ``columns`` that the file lacks are not read: their values count
    as missing, as an absent key does in JSONL.
    """
    parquet = open_parquet(path)
    if columns is not None:
        present = set(parquet.schema_arrow.names)
        columns = [name for name in dict.fromkeys(columns) if name in present]
    batches = parquet.iter_batches(batch_size=chunk_size, columns=columns)
    try:
        yield from rechunk(path, _selected(batches, selected), chunk_size)
    except pa.ArrowException as exc:
        raise ValidationError(f"{path}: unreadable Parquet data ({exc})", file=str(path)) from exc


def _selected(
    batches: Iterable[pa.RecordBatch], selected: np.ndarray | None
) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
    """Each batch with its rows' 1-based numbers, only the ``selected`` ordinals (if given)."""
    offset = cursor = 0
    for batch in batches:
        rows = np.arange(offset + 1, offset + batch.num_rows + 1, dtype=np.int64)
        offset += batch.num_rows
        if selected is not None:
            stop = int(np.searchsorted(selected, offset))
            local = selected[cursor:stop] - (offset - batch.num_rows)
            cursor = stop
            batch, rows = batch.take(pa.array(local)), rows[local]
        yield batch, rows
        if selected is not None and cursor >= len(selected):
            return


def rechunk(
    path: Path, batches: Iterable[tuple[pa.RecordBatch, np.ndarray]], chunk_size: int
) -> Iterator[ColumnChunk]:
    """Record batches of the window at ``path`` (each with its rows' 1-based numbers) as
    chunks of ``chunk_size`` rows (the last one shorter); about two chunks are held."""
    pending: list[pa.RecordBatch] = []
    numbers: list[np.ndarray] = []
    held = 0
    for batch, rows in batches:
        pending.append(batch)
        numbers.append(rows)
        held += batch.num_rows
        while held >= chunk_size:
            chunk, pending, numbers = _split(path, pending, numbers, chunk_size)
            held -= len(chunk)
            yield chunk
    if held:
        yield _split(path, pending, numbers, held)[0]


def _split(
    path: Path, batches: list[pa.RecordBatch], numbers: list[np.ndarray], size: int
) -> tuple[ColumnChunk, list[pa.RecordBatch], list[np.ndarray]]:
    """The first ``size`` held rows as a chunk, and the rows still held."""
    table = pa.Table.from_batches(batches)
    rows = np.concatenate(numbers)
    chunk = ColumnChunk(path, table.slice(0, size).combine_chunks(), rows[:size])
    rest = table.slice(size)
    return chunk, rest.to_batches() if rest.num_rows else [], [rows[size:]]


def head_rows(path: Path, size: int, selected: np.ndarray | None = None) -> list[Row]:
    """The first ``size`` (selected) rows as ``(row number, record)``, for schema inference."""
    chunk = next(iter_column_chunks(path, size, selected), None)
    if chunk is None:
        return []
    return list(zip(chunk.rows.tolist(), chunk.table.to_pylist(), strict=True))


def _plain(array: pa.Array) -> pa.Array:
    """Dictionary-encoded columns decoded to their value type."""
    if pa.types.is_dictionary(array.type):
        return array.dictionary_decode()
    return array


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def _sorted_categorical(indices: pa.Array, dictionary: pa.Array) -> pd.Categorical:
    """A Categorical with sorted categories holding only the used values.

    That is exactly what ``pd.Categorical(list_of_labels)`` gives on the same
    labels, so a Parquet window's frame equals the JSONL one's.
    """
    codes = np.asarray(indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return sorted_categorical(codes, dictionary.to_pylist())


def sorted_categorical(codes: np.ndarray, labels: Sequence[str | None]) -> pd.Categorical:
    """The Categorical of ``labels[codes[i]]`` (a code of -1 or a None label: missing), its
    categories the used labels, sorted: what ``pd.Categorical`` gives on those labels."""
    used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(labels)))
    names = sorted({labels[i] for i in used if labels[i] is not None})
    position = {name: index for index, name in enumerate(names)}
    lookup = np.array([position.get(label, -1) for label in labels] + [-1], dtype=np.int64)
    # codes of -1 (missing) pick the trailing -1 of ``lookup``.
    return pd.Categorical.from_codes(lookup[codes], categories=pd.Index(names, dtype=object))


@dataclass(frozen=True)
class ColumnChunk:
    """Some rows of a Parquet window, column by column, with their row numbers."""

    path: Path
    table: pa.Table
    rows: np.ndarray
    """1-based row numbers in the file (for error messages)."""

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def _column(self, name: str) -> pa.Array | None:
        if name not in self.table.column_names:
            return None
        return self.table.column(name).combine_chunks()

    def fail(self, index: int, name: str, problem: str) -> ValidationError:
        """A ValidationError naming the file, the row at ``index`` and the field."""
        row = int(self.rows[index])
        return ValidationError(
            f'{self.path}, row {row}: field "{name}" {problem}',
            file=str(self.path),
            row=row,
            field=name,
        )

    def _wrong(self, array: pa.Array, name: str, problem: str) -> ValidationError:
        index = int(np.flatnonzero(array.is_valid().to_numpy(zero_copy_only=False))[0])
        value = array[index].as_py()
        return self.fail(index, name, f"{problem}, got {type(value).__name__}")

    def texts(self, name: str) -> pa.Array:
        """The field's strings as an Arrow string column (null where missing)."""
        array = self._column(name)
        if array is None or array.null_count == len(array):
            return pa.nulls(len(self), type=pa.string())
        array = _plain(array)
        if not _is_text(array.type):
            raise self._wrong(array, name, "must be a string")
        return array if pa.types.is_large_string(array.type) else array.cast(pa.string())

    def values(self, name: str) -> list[Any]:
        """The field's values as Python objects (dialogue ``messages``)."""
        array = self._column(name)
        return [None] * len(self) if array is None else array.to_pylist()

    def numbers(self, name: str) -> np.ndarray:
        """The field as float64 (NaN where missing); integers and floats only."""
        array = self._column(name)
        if array is None or array.null_count == len(array):
            return np.full(len(self), np.nan)
        array = _plain(array)
        if not (pa.types.is_integer(array.type) or pa.types.is_floating(array.type)):
            raise self._wrong(array, name, "must be a number (as in the reference)")
        # Unsafe: integers beyond 2**53 round, as they do through json and numpy.
        floats = array.cast(pa.float64(), safe=False).fill_null(np.nan)
        numbers: np.ndarray = floats.to_numpy(zero_copy_only=False)
        return numbers

    def categories(self, name: str) -> pd.Categorical:
        """The field's category labels (see :func:`~lmops_evidently.schema.category_value`)."""
        array = self._column(name)
        if array is None or array.null_count == len(array):
            return pd.Categorical([None] * len(self))
        if pa.types.is_dictionary(array.type) and _is_text(array.type.value_type):
            return _sorted_categorical(array.indices, array.dictionary)
        array = _plain(array)
        if _is_text(array.type):
            encoded = array.dictionary_encode()
            return _sorted_categorical(encoded.indices, encoded.dictionary)
        if pa.types.is_nested(array.type):
            raise self._wrong(array, name, "must be a scalar (it is a category in the reference)")
        # Booleans, integers, dates...: rare for categories; labelled exactly as in JSONL.
        return pd.Categorical([None if v is None else category_value(v) for v in array.to_pylist()])
