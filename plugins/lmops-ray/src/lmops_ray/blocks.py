"""The Parquet blocks a step's chunks are staged in: one small pair of functions.

A block is one chunk: a Parquet file of one row, its position in the input
(``index``) and its items, pickled (``chunk``). A partitioned dataset store can
replace these two functions (write partitions where the workers read them)
without touching the pipeline.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def write_blocks(chunks: Iterable[list[Any]], folder: Path) -> Iterator[Path]:
    """Write each of ``chunks`` as a Parquet block under ``folder``; the paths, in order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for index, chunk in enumerate(chunks):
        path = folder / f"block-{index:09d}.parquet"
        table = pa.table(
            {
                "index": pa.array([index], pa.int64()),
                "chunk": pa.array(
                    [pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL)], pa.large_binary()
                ),
            }
        )
        pq.write_table(table, path)
        yield path


def read_block(path: Path) -> tuple[int, list[Any]]:
    """The position and items of the chunk in the block at ``path``."""
    import pyarrow.parquet as pq

    row = pq.read_table(path).to_pylist()[0]
    return int(row["index"]), pickle.loads(row["chunk"])
