"""How a partitioned dataset's rows reach a data step's per-record work: batches of rows.

The contract between a step and an engine when the input is a set of canonical
partitions. The unit of work is one row group of one partition (:class:`RowGroup`,
planned here from the partitions' footers, at most ``ROW_GROUP_ROWS`` rows), so the
engine's workers read the rows themselves, by path, and the calling process never
holds or ships them. A step says two things:

* what runs on a batch of rows (a :data:`BatchFunction` on :class:`Rows`: the rows'
  canonical JSON, the one column of the partition's Parquet schema, in partition order,
  with where they come from), built once per worker by a picklable ``setup``;
* how each result maps back to output rows: the step reads the :class:`RowBatch` es
  :func:`map_row_batches` yields, in input order, and writes what they say (the rows it
  keeps, or the rows its workers rewrote), so every engine writes the same partitions.

A step that only keeps or drops rows need not have them back at all: it decides on the
results alone (a keep mask per partition) and :func:`write_kept_partitions` has the workers
read each partition again and write what it keeps, so a cluster reads and writes the data
and the calling process handles one byte per row.

A step that rewrites every row (and keeps the layout) over partitions left in the artifact
store gives :func:`rewrite_stored_partitions` a function returning :class:`Rewritten` rows:
each worker fetches a partition (digest checked), runs the function on its row groups,
writes and stores the output partition under the same name, and sends back only what it
stored and the results, so the calling process assembles the manifest without the rows.

An engine that can plan a listed set of work (a :class:`~lmops_core.runtimes.PlannedMapper`,
e.g. Ray Data) runs the row groups as one pipeline; any other engine maps them as chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lmops_core.artifacts.backend import StoreOpener
from lmops_core.datasets.partitions import COLUMN, Partition, PartitionWriter, read_partition
from lmops_core.datasets.readers import is_canonical_partition
from lmops_core.datasets.stored import (
    StoredPartition,
    fetched,
    scratch_file,
    store_partition,
    worker_env,
)
from lmops_core.errors import ValidationError
from lmops_core.extras import require
from lmops_core.runtimes import ChunkFunction, ChunkMapper, Ready, map_planned


class _OnStore(Protocol):
    """A unit of work on a partition in the artifact store: how a worker opens that store."""

    @property
    def opener(self) -> StoreOpener: ...


def _map_each_stored(
    mapper: ChunkMapper, setup: Callable[[], ChunkFunction], jobs: Sequence[_OnStore]
) -> Iterator[Any]:
    """``setup()`` run on ``mapper``'s workers with each job as one chunk; each chunk's result,
    in order.

    The jobs' partitions are in one store: its endpoint and credentials (:func:`worker_env`
    of the first job's opener) go to the workers' environment.
    """
    env = worker_env(jobs[0].opener) if jobs else {}
    return map_planned(mapper, setup, [[job] for job in jobs], env=env)


@dataclass(frozen=True)
class Rows:
    """A batch of one partition's rows: their canonical JSON and where the first one is.

    ``source`` is the partition's path, ``first`` the 1-based number of its first row
    in the partition; :meth:`where` names a row as the local engine does (``path:row``).
    """

    source: str
    first: int
    lines: list[bytes]

    def where(self, index: int) -> str:
        """``path:row`` of the ``index``-th row of the batch (0-based)."""
        return f"{self.source}:{self.first + index}"


#: What a step runs on a batch of rows, on an engine's worker: any picklable result.
BatchFunction = Callable[[Rows], Any]


@dataclass(frozen=True)
class RowGroup:
    """One unit of work: row group ``group`` of partition ``part`` (``path``), first row ``first``."""

    part: int
    path: str
    group: int
    first: int


@dataclass(frozen=True)
class RowBatch:
    """What came back for one row group: its partition, rows, their count and the result.

    ``rows.lines`` is empty unless the rows were asked back (``ship_rows``); ``count``
    is always the number of rows the result is about.
    """

    part: int
    rows: Rows
    count: int
    result: Any


def plan_row_groups(files: Sequence[Path]) -> list[RowGroup]:
    """Every row group of ``files`` (canonical partitions), in order, read from their footers."""
    return [unit for part, path in enumerate(files) for unit in _row_groups(part, path)]


def _row_groups(part: int, path: Path) -> list[RowGroup]:
    pq = require("pyarrow.parquet", extra="parquet", feature="planning partition batches")
    meta = pq.ParquetFile(str(path))
    if not is_canonical_partition(meta.schema_arrow):
        raise ValidationError(
            f"{path.name}: not a canonical lmops partition (expected one string column {COLUMN!r})",
            file=str(path),
        )
    groups, first = [], 1
    for group in range(meta.metadata.num_row_groups):
        groups.append(RowGroup(part, str(path), group, first))
        first += meta.metadata.row_group(group).num_rows
    return groups


def read_row_group(unit: RowGroup, *, source: str | None = None) -> Rows:
    """The rows of one planned row group, read from its partition file; ``source`` names
    that file in errors (default: its path)."""
    pq = require("pyarrow.parquet", extra="parquet", feature="reading a partition")
    table = pq.ParquetFile(unit.path).read_row_group(unit.group, columns=[COLUMN])
    lines = [value.encode("utf-8") for value in table.column(0).to_pylist()]
    return Rows(source or unit.path, unit.first, lines)


@dataclass(frozen=True)
class OnRowGroups:
    """An engine's ``setup`` for row groups: builds the step's function once per worker.

    The function it returns takes a chunk of :class:`RowGroup` s, reads each one's rows
    on the worker and returns a :class:`RowBatch` per row group, with the rows themselves
    only when ``ship_rows`` (a step that writes from the results alone does not need them
    back).
    """

    setup: Callable[[], BatchFunction]
    ship_rows: bool = True

    def __call__(self) -> ChunkFunction:
        function = self.setup()

        def one(unit: RowGroup, source: str | None = None) -> RowBatch:
            rows = read_row_group(unit, source=source)
            result = function(rows)
            shipped = rows if self.ship_rows else Rows(rows.source, rows.first, [])
            return RowBatch(unit.part, shipped, len(rows.lines), result)

        def run(units: list[RowGroup | StoredPartition]) -> list[RowBatch]:
            batches = []
            for unit in units:
                if isinstance(unit, RowGroup):
                    batches.append(one(unit))
                    continue
                # A partition in the artifact store: this worker fetches it (digest checked)
                # and runs every row group of it; errors name the partition.
                with fetched(unit) as path:
                    for group in _row_groups(unit.part, path):
                        batches.append(one(group, source=unit.name))
            return batches

        return run


def map_row_batches(
    mapper: ChunkMapper,
    setup: Callable[[], BatchFunction],
    files: Sequence[Path],
    *,
    ship_rows: bool = True,
) -> Iterator[RowBatch]:
    """``setup()`` run on every row group of ``files`` on ``mapper``'s workers, in input order.

    Each row group is one chunk; the engine's workers read its rows by path. Results
    come back in the partitions' order, row group by row group, whatever worker ran them,
    with the rows unless ``ship_rows`` is false.
    """
    plan = [[unit] for unit in plan_row_groups(files)]
    for (batch,) in map_planned(mapper, OnRowGroups(setup, ship_rows), plan):
        yield batch


def map_stored_row_batches(
    mapper: ChunkMapper,
    setup: Callable[[], BatchFunction],
    parts: Sequence[StoredPartition],
    *,
    ship_rows: bool = True,
) -> Iterator[RowBatch]:
    """:func:`map_row_batches` for partitions left in the artifact store.

    Each partition is one chunk: the worker that runs it fetches it from the store (its
    digest checked as it arrives) and runs ``setup()`` on each of its row groups. The
    store's endpoint and credentials go to the workers' environment.
    """
    for batches in _map_each_stored(mapper, OnRowGroups(setup, ship_rows), parts):
        yield from batches


@dataclass(frozen=True)
class Rewritten:
    """What a rewriting step's function gives for a batch of rows: the output rows (their
    canonical JSON, in order) and a picklable ``result`` about them (counts, not rows)."""

    lines: list[bytes]
    result: Any


#: What a rewriting step runs on a batch of rows, on an engine's worker.
RewriteFunction = Callable[[Rows], Rewritten]


@dataclass(frozen=True)
class RewrittenPartition:
    """One partition rewritten by a worker: the output partition as stored (same name),
    the input rows read and each row group's ``result``, in order."""

    part: int
    partition: Partition
    rows: int
    results: list[Any]


@dataclass(frozen=True)
class RewriteStored:
    """An engine's ``setup`` for :func:`rewrite_stored_partitions`: the step's function built
    once per worker, then run on each partition of a chunk of stored partitions."""

    setup: Callable[[], RewriteFunction]

    def __call__(self) -> ChunkFunction:
        function = self.setup()

        def run(parts: list[StoredPartition]) -> list[RewrittenPartition]:
            return [_rewrite_one(function, part) for part in parts]

        return run


def _rewrite_one(function: RewriteFunction, part: StoredPartition) -> RewrittenPartition:
    """Fetch ``part``, write what ``function`` makes of its row groups, store it."""
    results: list[Any] = []
    read = 0
    with fetched(part) as source, scratch_file() as target:
        writer = PartitionWriter(target)
        try:
            for group in _row_groups(part.part, source):
                rows = read_row_group(group, source=part.name)
                out = function(rows)
                for line in out.lines:
                    writer.add(line)
                results.append(out.result)
                read += len(rows.lines)
        except BaseException:
            writer.abort()
            raise
        written = writer.close(part.name)
        stored = store_partition(part.opener, target, written, lease=part.lease)
    return RewrittenPartition(part.part, stored, read, results)


def rewrite_stored_partitions(
    mapper: ChunkMapper,
    setup: Callable[[], RewriteFunction],
    parts: Sequence[StoredPartition],
) -> Iterator[RewrittenPartition]:
    """Every stored partition rewritten by ``setup()`` on ``mapper``'s workers, in order.

    One partition per chunk: its worker fetches it (digest checked as it arrives), runs the
    function on each row group (errors name ``partition:row``), writes the output rows as a
    canonical partition of the same name and stores it, content-addressed, joining the
    partition's lease. The store's endpoint and credentials go to the workers' environment.
    """
    for (done,) in _map_each_stored(mapper, RewriteStored(setup), parts):
        yield done


@dataclass(frozen=True)
class OnLines:
    """A ``setup`` for a batch function from one of a chunk function over raw lines.

    Steps whose per-record work needs only the rows' JSON (hashes, lengths, signatures)
    share one chunk function between a JSONL input (chunks of lines) and partitions.
    """

    setup: Callable[[], ChunkFunction]

    def __call__(self) -> BatchFunction:
        function = self.setup()
        return lambda rows: function(rows.lines)


@dataclass(frozen=True)
class KeptRows:
    """One output partition: the rows of partition ``source`` that ``mask`` keeps (one byte
    per row, non-zero: kept), written in order as a canonical partition at ``target``."""

    source: str
    mask: bytes
    target: str


def write_kept(chunk: list[KeptRows]) -> list[int]:
    """Write each job's partition (where the engine runs it); the rows each one holds."""
    return [_write_kept(Path(job.source), job.mask, Path(job.target)).rows for job in chunk]


def _write_kept(source: Path, mask: bytes, target: Path, name: str | None = None) -> Partition:
    writer = PartitionWriter(target)
    try:
        for raw, keep in zip(read_partition(source), mask, strict=True):
            if keep:
                writer.add(raw)
    except BaseException:
        writer.abort()
        raise
    return writer.close(name)


@dataclass(frozen=True)
class KeptStored:
    """One output partition in the artifact store: the rows of ``source`` that ``mask`` keeps."""

    source: StoredPartition
    mask: bytes

    @property
    def opener(self) -> StoreOpener:
        """How a worker opens the store ``source`` is in (and stores the output in)."""
        return self.source.opener


def write_kept_stored(chunk: list[KeptStored]) -> list[Partition]:
    """Write and store each job's partition (where the engine runs it), under the source
    partition's name; what each one is (digest, bytes, rows)."""
    stored = []
    for job in chunk:
        with fetched(job.source) as source, scratch_file() as target:
            written = _write_kept(source, job.mask, target, job.source.name)
            stored.append(
                store_partition(job.source.opener, target, written, lease=job.source.lease)
            )
    return stored


def write_kept_to_store(mapper: ChunkMapper, jobs: Sequence[KeptStored]) -> list[Partition]:
    """Every job's partition written and stored by ``mapper``'s workers, one per chunk, in
    order: the manifest entries the calling process assembles the output from."""
    return [part for (part,) in _map_each_stored(mapper, Ready(write_kept_stored), jobs)]


def write_kept_partitions(mapper: ChunkMapper, jobs: Sequence[KeptRows]) -> int:
    """Every job's partition written on ``mapper``'s workers, one partition per chunk; the
    rows written in all. The partitions' bytes are those of the same rows written anywhere."""
    chunks = [[job] for job in jobs]
    return sum(rows for (rows,) in map_planned(mapper, Ready(write_kept), chunks))
