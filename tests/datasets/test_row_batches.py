"""Row batches: a partitioned input's rows reach a step's function row group by row group.

On the local engine (the planned-work fallback): every row in order, each batch knowing its
partition and the number of its first row, so a step's error names ``path:row``.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lmops_core.builtins.data_steps import LocalMapper
from lmops_core.datasets.partitions import (
    ROW_GROUP_ROWS,
    PartitionWriter,
    read_partition,
    write_partition,
)
from lmops_core.datasets.row_batches import (
    KeptRows,
    Rows,
    map_row_batches,
    plan_row_groups,
    write_kept_partitions,
)
from lmops_core.errors import ValidationError
from lmops_core.runtimes import ChunkMapper, PlannedMapper, Ready, map_planned

#: A first partition of two and a half row groups, then a small one.
SIZES = (ROW_GROUP_ROWS * 2 + ROW_GROUP_ROWS // 2, 7)


def _parts(folder: Path) -> list[Path]:
    paths = []
    for k, size in enumerate(SIZES):
        rows = ({"text": f"p{k} r{i}"} for i in range(size))
        paths.append(folder / f"part-{k}.parquet")
        write_partition(rows, paths[-1])
    return paths


def _sizes(rows: Rows) -> tuple[str, int, int]:
    return rows.source, rows.first, len(rows.lines)


def test_row_groups_planned_from_footers_cover_every_row_once(tmp_path: Path) -> None:
    paths = _parts(tmp_path)
    plan = plan_row_groups(paths)
    assert [(u.part, u.group, u.first) for u in plan] == [
        (0, 0, 1),
        (0, 1, ROW_GROUP_ROWS + 1),
        (0, 2, 2 * ROW_GROUP_ROWS + 1),
        (1, 0, 1),
    ]
    batches = list(map_row_batches(LocalMapper(), Ready(_sizes), paths))
    assert [b.result for b in batches] == [
        (str(paths[0]), 1, ROW_GROUP_ROWS),
        (str(paths[0]), ROW_GROUP_ROWS + 1, ROW_GROUP_ROWS),
        (str(paths[0]), 2 * ROW_GROUP_ROWS + 1, ROW_GROUP_ROWS // 2),
        (str(paths[1]), 1, 7),
    ]
    # The rows, in order, are those read_partition gives: nothing lost, doubled or moved.
    for k, path in enumerate(paths):
        got = [line for b in batches if b.part == k for line in b.rows.lines]
        assert got == list(read_partition(path))
    assert batches[1].rows.where(4) == f"{paths[0]}:{ROW_GROUP_ROWS + 5}"
    assert [b.count for b in batches] == [b.result[2] for b in batches]
    # Asked not to ship the rows back: the same results and counts, no rows.
    bare = list(map_row_batches(LocalMapper(), Ready(_sizes), paths, ship_rows=False))
    assert [(b.result, b.count, b.rows.lines) for b in bare] == [
        (b.result, b.count, []) for b in batches
    ]


def _fail_on_row_3(rows: Rows) -> None:
    if rows.first == 1 and len(rows.lines) == SIZES[1]:
        raise ValidationError(f"{rows.where(2)}: bad record")


def test_a_batch_function_error_names_the_partition_and_row(tmp_path: Path) -> None:
    paths = _parts(tmp_path)
    with pytest.raises(ValidationError, match=rf"^{paths[1]}:3: bad record$"):
        list(map_row_batches(LocalMapper(), Ready(_fail_on_row_3), paths))


def test_a_file_that_is_not_a_canonical_partition_is_named(tmp_path: Path) -> None:
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"text": ["a"], "n": [1]}), other)
    with pytest.raises(ValidationError, match=r"other.parquet: not a canonical lmops partition"):
        plan_row_groups([other])


class _Planned(LocalMapper):
    """An engine that plans listed work: map_planned must be used, with the whole list."""

    def __init__(self) -> None:
        self.planned: list[int] = []

    def map_planned(self, setup, chunks):  # type: ignore[no-untyped-def]
        self.planned.append(len(chunks))
        return self.map_chunks(setup, chunks)


def test_listed_work_goes_to_an_engine_that_plans_it() -> None:
    planned = _Planned()
    assert isinstance(planned, PlannedMapper)
    assert not isinstance(LocalMapper(), PlannedMapper)
    mappers: list[ChunkMapper] = [LocalMapper(), planned]
    for mapper in mappers:
        assert list(map_planned(mapper, Ready(sum), [[1, 2], [3]])) == [3, 3]
    assert planned.planned == [2]


def test_kept_rows_written_by_the_engine_are_the_partitions_a_step_writes(
    tmp_path: Path,
) -> None:
    """write_kept_partitions: the rows a mask keeps, as the same bytes as writing them here."""
    paths = _parts(tmp_path)
    masks = [bytes(i % 3 != 0 for i in range(size)) for size in SIZES]
    masks[1] = bytes(SIZES[1])  # nothing kept: an empty partition, still written
    jobs = [
        KeptRows(str(path), mask, str(tmp_path / "out" / path.name))
        for path, mask in zip(paths, masks, strict=True)
    ]
    assert write_kept_partitions(LocalMapper(), jobs) == sum(masks[0])
    for path, mask in zip(paths, masks, strict=True):
        kept = [raw for raw, keep in zip(read_partition(path), mask, strict=True) if keep]
        expected = tmp_path / "expected" / path.name
        writer = PartitionWriter(expected)
        for raw in kept:
            writer.add(raw)
        writer.close()
        assert (tmp_path / "out" / path.name).read_bytes() == expected.read_bytes()
