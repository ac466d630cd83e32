"""The files of a dataset version, whatever its layout: one JSONL file, or Parquet partitions.

A step that reads a dataset input reads its parts one at a time (memory: one part's
read buffer, never the whole version) with :func:`dataset_parts` and :func:`part_lines`;
a step that writes one part of output per part of input (:class:`PartOutputs`) keeps the
partitioned layout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from lmops_core.datasets.partitions import (
    PARTITIONED_FORMAT,
    PartitionWriter,
    partition_files,
    read_partition,
)
from lmops_core.errors import ValidationError
from lmops_core.safepaths import join_inside


def dataset_parts(path: Path) -> list[tuple[str, Path]]:
    """``(name, file)`` per part, in order: the file itself, or each partition of a folder."""
    if path.is_dir():
        return partition_files(path)
    if not path.is_file():
        raise ValidationError(f"dataset {path} is neither a file nor a folder", file=str(path))
    return [(path.name, path)]


def is_partitioned(path: Path) -> bool:
    """Whether the dataset at ``path`` is a folder of partitions (else one JSONL file)."""
    return path.is_dir()


def part_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(number, JSON bytes)`` per record of one part: by line (blank lines skipped, still
    counted) in a JSONL file, by row in a canonical Parquet partition."""
    with open(path, "rb") as fh:
        parquet = fh.read(4) == b"PAR1"
    if parquet:
        yield from enumerate(read_partition(path), start=1)
        return
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if raw.strip():
                yield number, raw


def part_records(path: Path) -> int:
    """How many records one part holds (a partition's from its footer, without reading rows)."""
    with open(path, "rb") as fh:
        if fh.read(4) == b"PAR1":
            from lmops_core.extras import require

            pq = require("pyarrow.parquet", extra="parquet", feature=f"reading {path.name}")
            return int(pq.ParquetFile(str(path)).metadata.num_rows)
        fh.seek(0)
        return sum(1 for line in fh if line.strip())


class PartOutputs:
    """Where a step writes records, part by part, keeping its input's layout.

    For a one-file input, ``target`` is one JSONL file; for a partitioned input, a folder
    holding one canonical partition per input partition, of the same name (written even
    when it keeps no record). Parts must be written in order (``writer(0)``, then
    ``writer(1)``...): one partition is open at a time. Use it as a context manager;
    on an error the open partition is deleted.
    """

    def __init__(self, target: Path, names: Sequence[str], *, partitioned: bool) -> None:
        self.target, self.names, self.partitioned = target, list(names), partitioned
        self._file: IO[bytes] | None = None
        self._open = -1
        self._writer: PartitionWriter | None = None

    @property
    def format(self) -> str:
        """The output's ``format``: ``PARTITIONED_FORMAT`` or ``jsonl``."""
        return PARTITIONED_FORMAT if self.partitioned else "jsonl"

    def __enter__(self) -> PartOutputs:
        if not self.partitioned:
            self._file = self.target.open("wb")
        return self

    def writer(self, index: int) -> Callable[[bytes], object]:
        """The function writing one record (its canonical JSON, no newline) of part ``index``."""
        if self._file is not None:
            out = self._file
            return lambda canonical: out.writelines((canonical, b"\n"))
        if index < self._open:
            raise ValueError(f"part {index} comes after part {self._open}: parts go in order")
        while self._open < index:
            self._close_part()
            self._open += 1
            name = self.names[self._open]
            self._writer = PartitionWriter(join_inside(self.target, name, what="partition"))
        assert self._writer is not None
        return self._writer.add

    def _close_part(self) -> None:
        if self._writer is not None:
            self._writer.close(self.names[self._open])
            self._writer = None

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if self._file is not None:
            self._file.close()
        elif kind is not None:
            if self._writer is not None:
                self._writer.abort()
        else:
            self.writer(len(self.names) - 1)  # the partitions no record reached
            self._close_part()
