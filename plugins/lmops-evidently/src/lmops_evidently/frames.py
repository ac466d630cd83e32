"""Building the reference and current feature frames from two windows (JSONL or Parquet)."""

from __future__ import annotations

import ctypes
import gc
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa

from lmops_core.contracts import NullProgress, ProgressReporter
from lmops_core.errors import ValidationError
from lmops_core.heap import settle_heap as core_settle_heap
from lmops_core.runtimes import GuardSource
from lmops_evidently.formats import WindowFormat, window_format
from lmops_evidently.jsonl import (
    ArrowLines,
    LineCount,
    Row,
    arrow_block,
    count_lines,
    iter_chunks,
    reader_pool,
)
from lmops_evidently.params import DESCRIPTORS, DriftParams
from lmops_evidently.parquet import (
    head_rows,
    iter_column_chunks,
    parquet_rows,
    rechunk,
)
from lmops_evidently.pii import Scan, load_scanner, require_scanner
from lmops_evidently.schema import MESSAGES, Schema, infer_schema
from lmops_evidently.vocabulary import ReferenceVocabulary, TokenizerVocabulary
from lmops_evidently.window import Measures, Vocabulary, WindowBuilder

SCHEMA_ROWS = 1_000
"""Leading reference rows (after sampling) from which field types are inferred."""


@dataclass
class FeatureFrames:
    """The two frames Evidently compares, and how they were obtained."""

    reference: pd.DataFrame
    current: pd.DataFrame
    schema: Schema
    rows_reference: int
    rows_current: int
    sampled: bool
    vocabulary: str
    pii: str
    embedding_texts: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    """Per embedding field, the (reference, current) texts of the embedding sample."""


def choose_rows(total: int, limit: int | None, rng: np.random.Generator) -> np.ndarray | None:
    """Sorted ordinals of a uniform sample of ``limit`` rows, or None to keep all."""
    if limit is None or total <= limit:
        return None
    return np.sort(rng.choice(total, size=limit, replace=False))


def _count(path: Path, kind: WindowFormat) -> LineCount:
    """The window's records (and, for JSONL, its longest line)."""
    return LineCount(parquet_rows(path), 0) if kind == "parquet" else count_lines(path)


def _count_both(
    reference: Path, current: Path, kinds: dict[Path, WindowFormat]
) -> dict[Path, LineCount]:
    """Both windows counted at once, the current one on a helper thread (numpy and Arrow
    release the GIL while they check and count a block: two 60 MB windows took 0.032 s
    instead of 0.060 s). A window that fails its check raises here, the reference's first."""
    with ThreadPoolExecutor(1, thread_name_prefix="lmops-drift-count") as helper:
        other = helper.submit(_count, current, kinds[current])
        first = _count(reference, kinds[reference])
        return {reference: first, current: other.result()}


def _head(path: Path, kind: WindowFormat, selected: np.ndarray | None) -> list[Row]:
    """The first :data:`SCHEMA_ROWS` (selected) records, whatever the format."""
    if kind == "parquet":
        return head_rows(path, SCHEMA_ROWS, selected)
    return next(iter_chunks(path, SCHEMA_ROWS, selected))


def _parquet_columns(schema: Schema) -> list[str]:
    """The Parquet columns a window's schema measures (only those are decoded)."""
    names = [f for f in schema.text_fields if not f.startswith(f"{MESSAGES}.")]
    names += list(schema.numeric_fields) + list(schema.categorical_fields)
    if schema.dialogue:
        names.append(MESSAGES)
    return names


def _numbered(batches: Iterable[pa.RecordBatch]) -> Iterator[tuple[pa.RecordBatch, np.ndarray]]:
    """Each batch with its rows' 1-based numbers."""
    offset = 0
    for batch in batches:
        yield batch, np.arange(offset + 1, offset + batch.num_rows + 1, dtype=np.int64)
        offset += batch.num_rows


def _arrow_fields(schema: Schema) -> dict[str, pa.DataType]:
    """The Arrow type of every field the schema measures (categories as strings)."""
    fields = dict.fromkeys(schema.text_fields, pa.string())
    fields.update(dict.fromkeys(schema.numeric_fields, pa.float64()))
    fields.update(dict.fromkeys(schema.categorical_fields, pa.string()))
    return fields


def _descriptors(
    params: DriftParams, guards: GuardSource | None
) -> tuple[tuple[str, ...], Scan | None, str]:
    """Active descriptors, the PII scanner (if any) and a status line for the evidence."""
    if params.descriptors is not None:
        chosen = tuple(params.descriptors)
        if "pii" in chosen:
            scan, status = require_scanner(guards)
            return chosen, scan, status
        return chosen, None, 'not measured: "pii" not among the descriptors param'
    scan, status = load_scanner(guards)
    if scan is None:
        return tuple(d for d in DESCRIPTORS if d != "pii"), None, status
    return DESCRIPTORS, scan, status


_UNITS: dict[WindowFormat, str] = {"jsonl": "line", "parquet": "row"}


def _trim_malloc() -> None:
    """Hand the C allocator's free memory back to the system (glibc; elsewhere nothing).

    The text threads' malloc arenas keep the blocks their chunks freed, and Evidently,
    on the calling thread, never reuses them (100k-row windows: about 20 MiB).
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc: no such call
        return
    trim(0)


def _collect_garbage() -> None:
    """Run Python's full collection now, before Evidently starts.

    Whatever the process did before (an earlier report, the frames) leaves reference cycles
    and pushes Python's oldest generation towards its next full collection, which then falls
    inside Evidently's run. Measured in the benchmark's lmops child (100k-row windows, warmed
    by one monitor run): without this, one full collection ran during Evidently's report and
    took 0.23 CPU-s (8,208 objects freed), and the report took 78-96k minor page faults
    instead of the 21-26k it takes in a fresh process on the same frames (4.5-5.1 CPU-s
    against 4.0-4.2); collected here, 25-30k faults and no full collection inside the report.
    """
    gc.collect()


def settle_heap() -> None:
    """Once per process, on the first drift run: :func:`lmops_core.heap.settle_heap`.

    What lives then is mostly what importing Evidently and its stack made (some 340k objects
    tracked by the collector: scipy, plotly, sklearn, pandas, nltk...) and stays for the
    process's life. Frozen, it is no longer traversed by any collection, so the full
    collection that ends each run's frames (:func:`_collect_garbage`) and those that fall
    inside Evidently's report cost the run's own objects only (measured in the benchmark's
    lmops child at 100k rows, after one warm-up run: 0.005-0.012 s of full collections in
    the whole run instead of 0.15 s). The first run pays one full collection more.
    """
    core_settle_heap()


def _text_pool(schema: Schema) -> ThreadPoolExecutor | nullcontext[None]:
    """Threads that measure text fields beside the calling thread and the thread that reads
    the window ahead (see :func:`read_ahead`): as many threads in all as Arrow's CPU pool
    has (``pyarrow.set_cpu_count`` limits both), the calling thread taking one field; none
    for a single field or two CPUs.

    On two cores a helper beside the reader and the calling thread made the frames slower
    (100k-row windows, prompt and response: 1.04-1.07 s against 0.93-0.95 s without it,
    1.41-1.45 CPU-s against 1.30-1.33). Measuring the prompt on the reader instead (tried)
    gained nothing either: both threads were then busy, and the wall time stayed the same.
    """
    helpers = min(len(schema.text_fields), pa.cpu_count() - 1) - 1
    if helpers < 1:
        return nullcontext()
    return ThreadPoolExecutor(helpers, thread_name_prefix="lmops-drift-text")


T = TypeVar("T")
U = TypeVar("U")
_DONE = object()


def read_ahead(items: Iterable[T], prepare: Callable[[T], U]) -> Iterator[U]:
    """``prepare(item)`` for each of ``items``, in order, each item produced and prepared on
    a reading thread while the caller uses the one before (at most one waits).

    Arrow parses JSON without holding the GIL, so the next chunk of a window is parsed
    while the calling thread measures the current one. An exception raised while
    producing reaches the caller in place of the item it stopped; a caller that stops
    early (an error while measuring) stops the reader, which closes ``items``.
    """
    source = iter(items)
    ready: queue.Queue[object] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in source:
                if not hand_over(prepare(item)):
                    return
            hand_over(_DONE)
        except BaseException as exc:  # noqa: BLE001 - raised again by the caller
            hand_over(exc)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    reader = threading.Thread(target=produce, name="lmops-drift-read", daemon=True)
    reader.start()
    try:
        while (item := ready.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        reader.join()


def _feed_arrow(
    builder: WindowBuilder, size: int, progress: ProgressReporter, counted: LineCount
) -> bool:
    """Measure every record of the builder's JSONL window (as ``counted``) as Arrow's JSON
    reader streams it, chunk by chunk (the next chunk is parsed while this one is
    measured, see :func:`read_ahead`); False when Arrow could not read the window exactly
    as parsing line by line would (see :class:`~lmops_evidently.jsonl.ArrowLines`)."""
    block = arrow_block(counted.longest)
    # count_lines has checked that the whole file is UTF-8.
    fields = _arrow_fields(builder.schema)
    lines = ArrowLines(builder.path, fields, block_size=block, utf8_checked=True)
    chunks = rechunk(builder.path, _numbered(lines), size)
    for chunk, prepared in read_ahead(chunks, builder.prepare):
        builder.add_columns(chunk, prepared)
        progress.advance(len(chunk))
    return not lines.failed and lines.rows == counted.records


def _feed(
    builder: WindowBuilder,
    kind: WindowFormat,
    size: int,
    selected: np.ndarray | None,
    progress: ProgressReporter,
) -> None:
    """Measure every (selected) row of the builder's window, chunk by chunk (Parquet's
    next chunk is read and prepared while this one is measured; JSON lines are parsed
    here, holding the GIL, so reading them ahead would gain nothing)."""
    if kind == "parquet":
        columns = iter_column_chunks(builder.path, size, selected, _parquet_columns(builder.schema))
        for chunk, prepared in read_ahead(columns, builder.prepare):
            builder.add_columns(chunk, prepared)
            progress.advance(len(chunk))
        return
    for rows in iter_chunks(builder.path, size, selected):
        builder.add(rows)
        progress.advance(len(rows))


def build_feature_frames(
    reference_path: Path,
    current_path: Path,
    params: DriftParams,
    *,
    tokenizer: TokenizerVocabulary | None = None,
    seed: int = 0,
    progress: ProgressReporter | None = None,
    guards: GuardSource | None = None,
) -> FeatureFrames:
    """Read both windows in chunks and measure every feature the drift test compares.

    Each window is one JSONL file or one Parquet file (told apart by content,
    see :func:`~lmops_evidently.formats.window_format`); Parquet is read in
    record batches of ``params.chunk_size`` rows, numbers and categories
    columnar. Windows longer than ``params.sample_rows`` are sampled uniformly
    (seeded by ``seed``) before parsing. The schema is inferred from the
    reference's first rows (:data:`SCHEMA_ROWS`); the current window must fit it.
    ``guards`` is where the ``pii`` guard is found (the run's stage context; by
    default the plugins installed here). Text fields are measured side by side,
    up to Arrow's CPU count at once, the calling thread being one of them
    (``pyarrow.set_cpu_count(1)``: one after the other); the frames are the same
    either way.
    """
    progress = progress or NullProgress()
    rng = np.random.default_rng(seed)
    kinds = {path: window_format(path) for path in (reference_path, current_path)}
    counted = _count_both(reference_path, current_path, kinds)
    totals = {path: count.records for path, count in counted.items()}
    for role, path in (("reference", reference_path), ("current", current_path)):
        if totals[path] == 0:
            raise ValidationError(f"the {role} window {path} has no records", file=str(path))
    picks = {path: choose_rows(totals[path], params.sample_rows, rng) for path in totals}
    analysed = {p: totals[p] if (pick := picks[p]) is None else len(pick) for p in totals}

    progress.start("drift: measuring windows", total=float(sum(analysed.values())))
    # The schema comes from a fixed-size prefix, so it never depends on chunk_size.
    head = _head(reference_path, kinds[reference_path], picks[reference_path])
    schema = infer_schema(head, params, reference_path, DESCRIPTORS)
    if schema.text_fields:
        descriptors, scan, pii_status = _descriptors(params, guards)
        schema = replace(schema, descriptors=descriptors)
    else:
        # Loading the PII guard takes seconds; a window without text has no use for it.
        scan, pii_status = None, "not measured: no text field"
        schema = replace(schema, descriptors=())
    vocabularies: dict[str, Vocabulary] = {
        name: tokenizer if tokenizer is not None else ReferenceVocabulary()
        for name in schema.text_fields
    }

    def pii_rows(path: Path) -> np.ndarray:
        return np.sort(rng.choice(analysed[path], min(params.pii_rows, analysed[path]), False))

    def embedding_rows(path: Path) -> np.ndarray | None:
        if not schema.embedding_fields:
            return None  # no draw: sampling and PII rows stay as without embeddings
        size = min(params.embedding_rows, analysed[path])
        return np.sort(rng.choice(analysed[path], size, False))

    measures = Measures(schema, vocabularies, scan)

    def measure(path: Path, building_reference: bool, pool: Executor | None) -> WindowBuilder:
        sampled_rows = (pii_rows(path), embedding_rows(path))

        def builder() -> WindowBuilder:
            unit = _UNITS[kinds[path]]
            return WindowBuilder(measures, path, building_reference, *sampled_rows, unit, pool)

        size, selected = params.chunk_size, picks[path]
        # Whole JSONL windows of flat records are streamed by Arrow, only the fields
        # measured; sampled windows and dialogues are parsed line by line.
        if kinds[path] == "jsonl" and selected is None and not schema.dialogue:
            streamed = builder()
            if _feed_arrow(streamed, size, progress, counted[path]):
                return streamed
            # Start over line by line, with the reference vocabularies unlearnt.
            if building_reference:
                for name, vocabulary in vocabularies.items():
                    if isinstance(vocabulary, ReferenceVocabulary):
                        vocabularies[name] = ReferenceVocabulary()
        measured = builder()
        _feed(measured, kinds[path], size, selected, progress)
        return measured

    with _text_pool(schema) as pool:
        reference = measure(reference_path, True, pool)
        # The reference frame freezes its vocabulary, which the current window is scored on.
        reference_frame = reference.frame()
        current = measure(current_path, False, pool)
    progress.finish()
    _collect_garbage()
    # Arrow's allocators keep freed blocks for a while (how long depends on timing): hand
    # them back now, before Evidently allocates, so that peak memory does not depend on luck.
    pa.default_memory_pool().release_unused()
    reader_pool().release_unused()
    _trim_malloc()
    return FeatureFrames(
        reference=reference_frame,
        current=current.frame(),
        schema=schema,
        rows_reference=totals[reference_path],
        rows_current=totals[current_path],
        sampled=any(p is not None for p in picks.values()),
        vocabulary="tokenizer" if tokenizer is not None else "reference (cross-fitted)",
        pii=pii_status,
        embedding_texts={
            name: (reference.embedding_texts.get(name, []), current.embedding_texts.get(name, []))
            for name in schema.embedding_fields
        },
    )
