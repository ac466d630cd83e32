"""Partitioned dataset versions: canonical Parquet partitions, written byte for byte the same.

A partitioned dataset version is a set of Parquet files (its *partitions*), each stored as one
content-addressed artifact, plus a manifest artifact listing them (name, digest, bytes, rows).
The version's digest is the Merkle root over the partitions' digests (:mod:`.merkle`).

A canonical partition has one non-null string column, :data:`COLUMN`, holding each record's
canonical JSON (sorted keys, compact, UTF-8: the line of a single-file version, without its
newline). JSON text keeps every record exactly as given (Parquet's typed columns would turn
records with different keys into one schema padded with nulls). It is written with fixed
options (:data:`WRITE_OPTIONS`), row groups cut by a rule of the records alone, and no
timestamps or varying metadata, so the same records in the same order give the same bytes on
any machine running the same pyarrow release (the writer's name and version are in the file,
``constraints.txt`` pins it). Any engine that writes partitions for lmops (the local steps, a
Ray job) calls :func:`write_partition` or :class:`PartitionWriter`.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmops_core.datasets.ingest import canonical_json
from lmops_core.datasets.merkle import CONSTRUCTION, merkle_root
from lmops_core.datasets.readers import CANONICAL_COLUMN, is_canonical_partition
from lmops_core.digests import digest_file, parse_digest
from lmops_core.errors import IntegrityError, UnsafePathError, ValidationError
from lmops_core.extras import require
from lmops_core.safepaths import safe_relative_path

#: ``DatasetVersion.format`` of a partitioned version.
PARTITIONED_FORMAT = "parquet-partitions"
#: The one column of a canonical partition.
COLUMN = CANONICAL_COLUMN
#: A row group ends after this many records, or once it holds this many bytes of JSON.
ROW_GROUP_ROWS = 10_000
ROW_GROUP_BYTES = 64 * 1024 * 1024
#: Parquet writer options of a canonical partition (every one fixed: the bytes depend on them).
WRITE_OPTIONS: dict[str, Any] = {
    "version": "2.6",
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": False,
    "write_statistics": False,
    "store_schema": False,
    "write_page_index": False,
    "write_page_checksum": False,
    "data_page_version": "1.0",
}
#: The manifest is a folder manifest (``lmops.tree/1``, so the store keeps, exports and
#: collects its members like a model folder's) that also carries rows and the Merkle root.
MANIFEST_FORMAT = "lmops.partitions/1"
_TREE_FORMAT = "lmops.tree/1"
_READ_BATCH = 1_000


def _pyarrow(feature: str) -> tuple[Any, Any]:
    pa = require("pyarrow", extra="parquet", feature=feature)
    pq = require("pyarrow.parquet", extra="parquet", feature=feature)
    return pa, pq


@dataclass(frozen=True)
class Partition:
    """One partition of a dataset version: its name (a relative path), digest, bytes, rows."""

    name: str
    digest: str
    size: int
    rows: int


class PartitionWriter:
    """Writes one canonical partition record by record (memory: one row group).

    ``add`` takes a record's canonical JSON (:func:`lmops_core.datasets.ingest.canonical_json`);
    ``close`` finishes the file and returns what it holds, its digest computed from the file.
    """

    def __init__(self, path: Path) -> None:
        pa, pq = _pyarrow(f"writing the Parquet partition {path.name}")
        self._pa = pa
        self.path = path
        self._schema = pa.schema([pa.field(COLUMN, pa.string(), nullable=False)])
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = pq.ParquetWriter(str(path), self._schema, **WRITE_OPTIONS)
        self._buffer: list[bytes] = []
        self._buffered = 0
        self.rows = 0

    def add(self, canonical: bytes) -> None:
        """Append one record, given as its canonical JSON bytes (no newline)."""
        self._buffer.append(canonical)
        self._buffered += len(canonical)
        self.rows += 1
        if len(self._buffer) >= ROW_GROUP_ROWS or self._buffered >= ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            column = self._pa.array(self._buffer, type=self._pa.string())
            self._writer.write_table(self._pa.table([column], schema=self._schema))
        self._buffer, self._buffered = [], 0

    def close(self, name: str | None = None) -> Partition:
        """Finish the file; the partition is named ``name`` (default: the file's name)."""
        self._flush()
        self._writer.close()
        return Partition(
            name=name or self.path.name,
            digest=digest_file(self.path),
            size=self.path.stat().st_size,
            rows=self.rows,
        )

    def abort(self) -> None:
        """Close and delete a partition that will not be used."""
        self._buffer = []
        self._writer.close()
        self.path.unlink(missing_ok=True)


def write_partition(records: Iterable[Mapping[str, Any]], path: Path) -> Partition:
    """Write ``records`` (in order) as one canonical partition at ``path``."""
    writer = PartitionWriter(path)
    try:
        for record in records:
            writer.add(canonical_json(record))
    except BaseException:
        writer.abort()
        raise
    return writer.close()


def read_partition(path: Path) -> Iterator[bytes]:
    """The canonical JSON of each record of a canonical partition, read by batches."""
    _, pq = _pyarrow(f"reading the Parquet partition {path.name}")
    parquet = pq.ParquetFile(str(path))
    if not is_canonical_partition(parquet.schema_arrow):
        raise ValidationError(
            f"{path.name}: not a canonical lmops partition (expected one string column {COLUMN!r})",
            file=str(path),
        )
    for batch in parquet.iter_batches(batch_size=_READ_BATCH, columns=[COLUMN]):
        for value in batch.column(0).to_pylist():
            yield value.encode("utf-8")


def read_partition_records(path: Path) -> Iterator[tuple[bytes, dict[str, Any]]]:
    """``(canonical JSON, record)`` for each record of a canonical partition."""
    for raw in read_partition(path):
        yield raw, json.loads(raw)


def partition_files(folder: Path) -> list[tuple[str, Path]]:
    """The partitions of a folder as ``(name, path)``, sorted by name (the manifest order).

    A partition is a ``*.parquet`` regular file anywhere below ``folder``; its name is its
    path relative to ``folder``. Files whose name starts with ``_`` or ``.`` (``_SUCCESS``,
    ``.part-0.parquet.crc``, as Spark and Hadoop leave them) are skipped. Anything else (another
    file, a symbolic link, a device) is refused, naming it.
    """
    if folder.is_symlink() or not folder.is_dir():
        raise ValidationError(f"{folder} is not a folder of Parquet partitions", file=str(folder))
    found: list[tuple[str, Path]] = []
    pending = [folder]
    while pending:
        for entry in sorted(pending.pop().iterdir()):
            if entry.name.startswith(("_", ".")):
                continue
            mode = entry.lstat().st_mode
            if stat.S_ISDIR(mode):
                pending.append(entry)
                continue
            rel = entry.relative_to(folder).as_posix()
            if not stat.S_ISREG(mode):
                raise UnsafePathError(f"refusing {rel} in {folder}: not a regular file")
            if not entry.name.endswith(".parquet"):
                raise ValidationError(
                    f"{rel} in {folder} is not a Parquet partition (expected *.parquet; "
                    "names starting with _ or . are skipped)",
                    file=str(entry),
                )
            found.append((str(safe_relative_path(rel, what="partition name")), entry))
    if not found:
        raise ValidationError(f"{folder} holds no Parquet partitions (*.parquet)", file=str(folder))
    return sorted(found)


@dataclass(frozen=True)
class PartitionManifest:
    """The partitions of a dataset version, in order, and their Merkle root."""

    shape: str
    partitions: tuple[Partition, ...]

    @property
    def root(self) -> str:
        """The Merkle root over the partitions' digests: the version's digest."""
        return merkle_root([p.digest for p in self.partitions])

    @property
    def records(self) -> int:
        return sum(p.rows for p in self.partitions)

    @property
    def size(self) -> int:
        return sum(p.size for p in self.partitions)

    def to_bytes(self) -> bytes:
        """Canonical JSON of the manifest (a valid ``lmops.tree/1`` folder manifest)."""
        body = {
            "format": _TREE_FORMAT,
            "entries": [
                {"path": p.name, "digest": p.digest, "size": p.size, "rows": p.rows}
                for p in self.partitions
            ],
            "dataset": {
                "format": MANIFEST_FORMAT,
                "construction": CONSTRUCTION,
                "shape": self.shape,
                "root": self.root,
            },
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes, *, digest: str) -> PartitionManifest:
        """Parse and check a manifest; any fault raises :class:`IntegrityError` naming it."""
        try:
            body = json.loads(data)
            dataset = body["dataset"]
            if body.get("format") != _TREE_FORMAT or dataset.get("format") != MANIFEST_FORMAT:
                raise ValueError("not a partition manifest")
            if dataset.get("construction") != CONSTRUCTION:
                raise ValueError(f"unknown Merkle construction {dataset.get('construction')!r}")
            partitions = tuple(_entry(e) for e in body["entries"])
            manifest = cls(shape=str(dataset["shape"]), partitions=partitions)
        except (ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
            raise IntegrityError(
                f"artifact {digest} is not a valid partition manifest: {exc}"
            ) from None
        names = [p.name for p in partitions]
        if names != sorted(set(names)):
            raise IntegrityError(
                f"partition manifest {digest}: partition names are not unique and sorted"
            )
        if manifest.root != dataset["root"]:
            raise IntegrityError(
                f"partition manifest {digest}: its partitions' Merkle root {manifest.root} is not "
                f"the root it records ({dataset['root']})"
            )
        return manifest


def _entry(e: Mapping[str, Any]) -> Partition:
    size, rows = e["size"], e["rows"]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (size, rows)):
        raise ValueError(f"partition {e.get('path')!r}: size and rows must be integers >= 0")
    return Partition(
        name=str(safe_relative_path(e["path"], what="partition name")),
        digest=parse_digest(e["digest"]),
        size=size,
        rows=rows,
    )


def changed_partitions(expected: Sequence[Partition], found: Sequence[Partition]) -> list[str]:
    """Names of the partitions that differ between two manifests (added, removed, changed)."""
    before = {p.name: p.digest for p in expected}
    after = {p.name: p.digest for p in found}
    return sorted(n for n in before.keys() | after.keys() if before.get(n) != after.get(n))
