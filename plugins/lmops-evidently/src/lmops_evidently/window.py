"""Turning the records of one window, chunk by chunk, into a compact feature frame.

Raw texts are dropped as soon as their chunk is measured, so a window's
memory is its feature columns (a few numbers per row), not its text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from lmops_core.errors import ValidationError
from lmops_evidently.columnar import TextColumn, Tokens, refusal_anchored
from lmops_evidently.jsonl import Row
from lmops_evidently.parquet import ColumnChunk, sorted_categorical
from lmops_evidently.pii import Scan, pii_flags
from lmops_evidently.schema import MESSAGES, TURNS_COLUMN, Schema, category_value
from lmops_evidently.text import SCRIPT_LABELS
from lmops_evidently.vocabulary import ReferenceVocabulary, TokenizerVocabulary

Vocabulary = ReferenceVocabulary | TokenizerVocabulary
Described = tuple[dict[str, np.ndarray], pd.Categorical | None]
"""A text field's numeric descriptor columns of one chunk, and its script labels (or None)."""
_NUMERIC_TYPES = {int, float, type(None)}
_LABEL_TYPES = {str, type(None)}
MISSING = "missing"
"""Language label of a row whose text field is absent or null."""
_LANG_LABELS = (*SCRIPT_LABELS, MISSING)


@dataclass(frozen=True)
class Measures:
    """What both windows of a comparison are measured with."""

    schema: Schema
    vocabularies: dict[str, Vocabulary]
    """Each text field's OOV vocabulary (shared: the current window is scored on the reference's)."""
    scan: Scan | None = None
    """The PII guard's scanner, when the ``pii`` descriptor is measured."""


@dataclass(frozen=True)
class Prepared:
    """What :meth:`WindowBuilder.prepare` read out of a columnar chunk beforehand."""

    numbers: dict[str, np.ndarray]
    categories: dict[str, pd.Categorical]
    texts: dict[str, pa.Array]
    """The flat text fields (those of a dialogue come from its messages, later)."""
    anchored: dict[str, np.ndarray]
    """Per text field whose refusals are measured, which texts hold a refusal anchor."""


@dataclass
class WindowBuilder:
    """Accumulates one window's feature columns from chunks of records.

    ``measures.vocabularies`` maps each text field to its vocabulary. On the reference
    window with :class:`ReferenceVocabulary`, OOV rates are only known once
    every chunk is in (see :mod:`lmops_evidently.vocabulary`), so
    :meth:`frame` finishes them. ``pii_rows`` holds the sorted ordinals of the
    rows whose texts are scanned for personal data. JSONL chunks come in as
    records (:meth:`add`), Parquet ones as columns (:meth:`add_columns`);
    ``unit`` names a record's position in error messages (``line`` or ``row``).
    """

    measures: Measures
    path: Path
    building_reference: bool
    pii_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    embedding_rows: np.ndarray | None = None
    unit: str = "line"
    pool: Executor | None = None
    """Helper threads that measure all text fields but the last while this thread measures
    that one (Arrow's kernels release the GIL); None: one after the other. Each field's
    chunks still go in order."""
    embedding_texts: dict[str, list[str]] = field(default_factory=dict, init=False)
    """Texts kept (missing ones as "") for the embedding-drift sample, per field."""
    rows: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.schema = self.measures.schema
        self._numeric: dict[str, list[np.ndarray]] = {c: [] for c in self.schema.numeric_columns}
        self._categorical: dict[str, list[pd.Categorical]] = {
            c: [] for c in self.schema.categorical_columns
        }

    def add(self, rows: Sequence[Row]) -> None:
        """Measure a chunk of records and keep only their features."""
        ordinals = self._ordinals(len(rows))
        texts = {name: self._texts(name, rows) for name in self.schema.text_fields}
        with self._measuring_texts(texts, ordinals):
            if self.schema.dialogue:
                self._numeric[TURNS_COLUMN].append(self._turns(rows))
            for name in self.schema.numeric_fields:
                self._numeric[name].append(self._numbers(name, rows))
            for name in self.schema.categorical_fields:
                self._categorical[name].append(pd.Categorical(self._categories(name, rows)))

    def prepare(self, chunk: ColumnChunk) -> tuple[ColumnChunk, Prepared]:
        """The chunk, with what :meth:`add_columns` needs of it that depends on no other
        chunk: its numbers and categories, its text columns and which texts hold a refusal
        anchor. All of it comes from Arrow's kernels, which release the GIL, so the thread
        that reads the chunks ahead prepares each one while this thread measures the chunk
        before (100k-row windows: 0.05-0.1 s less for both)."""
        texts = {
            name: chunk.texts(name)
            for name in self.schema.text_fields
            if not name.startswith(f"{MESSAGES}.")
        }
        refusals = {name for name in texts if "refusal" in self.schema.descriptors_of(name)}
        return chunk, Prepared(
            numbers={name: chunk.numbers(name) for name in self.schema.numeric_fields},
            categories={name: chunk.categories(name) for name in self.schema.categorical_fields},
            texts=texts,
            anchored={name: refusal_anchored(texts[name]) for name in refusals},
        )

    def add_columns(self, chunk: ColumnChunk, prepared: Prepared | None = None) -> None:
        """Measure a chunk of columnar rows (Parquet, or JSON read by Arrow): numbers and
        categories straight from Arrow (``prepared``: see :meth:`prepare`)."""
        if prepared is None:
            prepared = self.prepare(chunk)[1]
        ordinals = self._ordinals(len(chunk))
        # Dialogues are nested: their rows go through the record checks (rare in Parquet).
        dialogue: list[Row] = []
        if self.schema.dialogue:
            messages = chunk.values(MESSAGES)
            dialogue = [
                (int(row), {MESSAGES: m}) for row, m in zip(chunk.rows, messages, strict=True)
            ]
        texts: dict[str, list[str | None] | pa.Array] = {}
        for text_field in self.schema.text_fields:
            if text_field.startswith(f"{MESSAGES}."):
                texts[text_field] = self._texts(text_field, dialogue)
            else:
                texts[text_field] = prepared.texts[text_field]
        with self._measuring_texts(texts, ordinals, prepared.anchored):
            if self.schema.dialogue:
                self._numeric[TURNS_COLUMN].append(self._turns(dialogue))
            for name in self.schema.numeric_fields:
                self._numeric[name].append(prepared.numbers[name])
            for name in self.schema.categorical_fields:
                self._categorical[name].append(prepared.categories[name])

    @contextmanager
    def _measuring_texts(
        self,
        texts: dict[str, list[str | None] | pa.Array],
        ordinals: np.ndarray,
        anchored: dict[str, np.ndarray] | None = None,
    ) -> Iterator[None]:
        """Measure a chunk's text fields (in the pool, if any) while the body runs; keep the
        results when both are done, field by field in schema order (``anchored``: which
        texts hold a refusal anchor, per field where that is known already)."""
        anchored = anchored or {}
        columns = {
            name: t if isinstance(t, pa.Array) else pa.array(t, type=pa.string())
            for name, t in texts.items()
        }
        described: dict[str, Callable[[], Described]] = {}
        for index, (name, column) in enumerate(columns.items()):
            # The last field is measured here, after the body: one helper thread fewer.
            if self.pool is not None and index < len(columns) - 1:
                described[name] = self.pool.submit(
                    self._describe, name, column, ordinals, anchored.get(name)
                ).result
            else:
                described[name] = partial(
                    self._describe, name, column, ordinals, anchored.get(name)
                )
        yield
        for name, column in columns.items():
            numbers, labels = described[name]()
            for column_name, values in numbers.items():
                self._numeric[column_name].append(values)
            if labels is not None:
                self._categorical[f"{name}.lang"].append(labels)
            self._sample_texts(name, column, ordinals)

    def _ordinals(self, size: int) -> np.ndarray:
        """0-based ordinals of the next ``size`` analysed rows of the window."""
        ordinals = np.arange(self.rows, self.rows + size, dtype=np.int64)
        self.rows += size
        return ordinals

    def frame(self) -> pd.DataFrame:
        """The window's feature frame (one row per analysed record), columns in schema order."""
        for text_field in self.schema.text_fields:
            vocabulary = self.measures.vocabularies.get(text_field)
            column = f"{text_field}.oov_rate"
            if column not in self._numeric:
                continue
            if isinstance(vocabulary, ReferenceVocabulary) and self.building_reference:
                rates = vocabulary.freeze()
                present = np.concatenate(self._numeric[column]) if self._numeric[column] else rates
                # Missing texts were recorded as NaN placeholders; keep them missing.
                self._numeric[column] = [np.where(np.isnan(present), np.nan, rates)]
        order = self._column_order()
        if not order:
            return pd.DataFrame({})
        # The numbers go straight into one 2-D block that the frame adopts without a
        # copy: a million-row window would otherwise hold its numbers three times over
        # (chunks, concatenated columns, pandas' consolidated block).
        numeric = self.schema.numeric_columns
        block = np.empty((len(numeric), self.rows), dtype=np.float64)
        for row, name in zip(block, numeric, strict=True):
            np.concatenate(self._numeric[name] or [np.zeros(0)], out=row)
            self._numeric[name] = [row]  # a view of the block: the chunks can be freed
        frame = pd.DataFrame(block.T, columns=pd.Index(numeric, dtype=object), copy=False)
        for name in sorted(self.schema.categorical_columns, key=order.index):
            parts = self._categorical[name]
            values = (
                pd.api.types.union_categoricals(parts, ignore_order=True)
                if parts
                else pd.Categorical([])
            )
            frame.insert(order.index(name), name, values)
        return frame

    def _column_order(self) -> list[str]:
        order: list[str] = []
        for text_field in self.schema.text_fields:
            order += [c for c, _, _ in self.schema.descriptor_columns(text_field)]
        if self.schema.dialogue:
            order.append(TURNS_COLUMN)
        return order + list(self.schema.numeric_fields) + list(self.schema.categorical_fields)

    # -- per-kind extraction ------------------------------------------------------------------

    def _fail(self, line: int, name: str, problem: str) -> ValidationError:
        where: dict[str, Any] = {self.unit: line}
        return ValidationError(
            f'{self.path}, {self.unit} {line}: field "{name}" {problem}',
            file=str(self.path),
            field=name,
            **where,
        )

    def _texts(self, name: str, rows: Sequence[Row]) -> list[str | None]:
        if name.startswith(f"{MESSAGES}."):
            role = name.split(".", 1)[1]
            return [self._dialogue_text(line, record, role) for line, record in rows]
        texts: list[str | None] = []
        for line, record in rows:
            value = record.get(name)
            if value is not None and not isinstance(value, str):
                raise self._fail(line, name, f"must be a string, got {type(value).__name__}")
            texts.append(value)
        return texts

    def _messages(self, line: int, record: dict[str, Any]) -> list[dict[str, Any]] | None:
        messages = record.get(MESSAGES)
        if messages is None:
            return None
        if not isinstance(messages, list):
            raise self._fail(line, MESSAGES, "must be a list of {role, content} objects")
        for index, message in enumerate(messages):
            if (
                not isinstance(message, dict)
                or not isinstance(message.get("role"), str)
                or not isinstance(message.get("content"), str)
            ):
                raise self._fail(
                    line, MESSAGES, f"item {index} must be an object with string role and content"
                )
        return messages

    def _dialogue_text(self, line: int, record: dict[str, Any], role: str) -> str | None:
        messages = self._messages(line, record)
        if messages is None:
            return None
        parts = [m["content"] for m in messages if m["role"] == role]
        return "\n".join(parts) if parts else None

    def _turns(self, rows: Sequence[Row]) -> np.ndarray:
        counts = [self._messages(line, record) for line, record in rows]
        return np.array([np.nan if m is None else len(m) for m in counts], dtype=np.float64)

    def _describe(
        self,
        name: str,
        column: pa.Array,
        ordinals: np.ndarray,
        anchored: np.ndarray | None = None,
    ) -> Described:
        """One text field of a chunk, all its texts at once (see :mod:`.columnar`): its
        numeric descriptor columns, and its script labels if measured (``anchored``: see
        :func:`~lmops_evidently.columnar.refusal_anchored`, if known)."""
        wanted = self.schema.descriptors_of(name)
        text = TextColumn(column, anchored)
        missing = text.missing
        numbers: dict[str, np.ndarray] = {}

        def put(descriptor: str, values: np.ndarray) -> None:
            numbers[f"{name}.{descriptor}"] = np.where(missing, np.nan, values)

        if "length" in wanted:
            put("length", text.lengths().astype(np.float64))
        if {"words", "oov_rate"} & wanted:
            tokens = text.tokens()
            if "words" in wanted:
                put("words", tokens.counts.astype(np.float64))
            if "oov_rate" in wanted:
                put("oov_rate", self._oov(name, tokens, ordinals))
        labels = None
        if "lang" in wanted:
            # One label per script index, "missing" after them: no string per text.
            codes = np.where(missing, len(SCRIPT_LABELS), text.scripts())
            labels = sorted_categorical(codes, _LANG_LABELS)
        if "refusal" in wanted:
            put("refusal", text.refusals().astype(np.float64))
        return numbers, labels

    def _sample_texts(self, name: str, column: pa.Array, ordinals: np.ndarray) -> None:
        """Keep the chunk's texts of the embedding sample, and scan those of the PII sample."""
        if self.embedding_rows is not None and name in self.schema.embedding_fields:
            keep = np.flatnonzero(np.isin(ordinals, self.embedding_rows))
            kept = column.take(pa.array(keep, type=pa.int64())).to_pylist()
            self.embedding_texts.setdefault(name, []).extend(t or "" for t in kept)
        wanted = self.schema.descriptors_of(name)
        # The PII guard runs here, in this thread: its analyser need not be thread-safe.
        if "pii" in wanted and self.measures.scan is not None:
            chosen = np.isin(ordinals, self.pii_rows)
            self._numeric[f"{name}.pii"].append(pii_flags(self.measures.scan, column, chosen))

    def _oov(self, name: str, tokens: Tokens, ordinals: np.ndarray) -> np.ndarray:
        vocabulary = self.measures.vocabularies[name]
        if isinstance(vocabulary, ReferenceVocabulary) and self.building_reference:
            vocabulary.add_reference(tokens, ordinals)
            # Placeholder until freeze(): 0 where a text exists (NaN where missing, by put).
            return np.zeros(len(ordinals))
        return vocabulary.oov_rates(tokens, ordinals)

    def _numbers(self, name: str, rows: Sequence[Row]) -> np.ndarray:
        raw = [record.get(name) for _, record in rows]
        if set(map(type, raw)) <= _NUMERIC_TYPES:  # fast path: no per-value checks needed
            return np.array([np.nan if v is None else v for v in raw], dtype=np.float64)
        values = np.empty(len(rows), dtype=np.float64)
        for index, (line, record) in enumerate(rows):
            value = record.get(name)
            if value is None:
                values[index] = np.nan
            elif isinstance(value, int | float) and not isinstance(value, bool):
                values[index] = value
            else:
                raise self._fail(
                    line,
                    name,
                    f"must be a number (as in the reference), got {type(value).__name__}",
                )
        return values

    def _categories(self, name: str, rows: Sequence[Row]) -> list[str | None]:
        raw = [record.get(name) for _, record in rows]
        if set(map(type, raw)) <= _LABEL_TYPES:
            return raw
        labels: list[str | None] = []
        for line, record in rows:
            value = record.get(name)
            if isinstance(value, dict | list):
                raise self._fail(line, name, "must be a scalar (it is a category in the reference)")
            labels.append(None if value is None else category_value(value))
        return labels
