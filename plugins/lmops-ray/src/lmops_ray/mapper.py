"""The ``ray`` engine's mapper: a step's chunks through a Ray Data pipeline, results in order."""

from __future__ import annotations

import logging
import os
import pickle
import resource
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from lmops_core.errors import StageError
from lmops_core.runtimes import ChunkFunction
from lmops_ray.blocks import read_block, write_blocks


class ChunkWorker:
    """One Ray Data actor: builds the step's chunk function once, then runs it on each block.

    Whatever ``setup`` builds (a Presidio analyzer, MinHash permutations) is
    built once per worker, never per record.
    """

    def __init__(self, setup: Callable[[], ChunkFunction]) -> None:
        self.function = setup()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        indexes, results = [], []
        for path in batch["path"]:
            index, chunk = read_block(Path(str(path)))
            indexes.append(index)
            results.append(pickle.dumps(self.function(chunk), protocol=pickle.HIGHEST_PROTOCOL))
        peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return {
            "index": indexes,
            "result": results,
            "worker": [os.getpid()] * len(results),
            "peak_kib": [peak_kib] * len(results),
        }


class RayMapper:
    """Runs chunk functions on ``workers`` Ray Data actors; staging blocks under ``scratch``.

    The chunks are written as Parquet blocks, which a pool of
    :class:`ChunkWorker` actors reads and maps (one block per Ray Data row, so
    blocks spread over every worker), and the results are handed back in the
    input's order (each block keeps its chunk's index). ``worker_peaks`` holds
    the peak resident memory (KiB) each worker process reported in the last run.
    """

    name = "ray"

    def __init__(self, *, workers: int, cpus: int, scratch: Path | None = None) -> None:
        self.workers = workers
        # Ray Data's own tasks (splitting the input) need a CPU: workers that held every
        # CPU of the cluster could wait for them forever, so one is always left over.
        self.cpus_per_worker = min(1.0, max(cpus - 1, 1) / workers)
        self.scratch = scratch
        self.worker_peaks: dict[int, int] = {}

    def map_chunks(
        self, setup: Callable[[], ChunkFunction], chunks: Iterable[list[Any]]
    ) -> Iterator[Any]:
        """``setup()(chunk)`` for each chunk, computed on the cluster, in the order of ``chunks``."""
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        # Ray Data reports each execution at INFO; a step's own progress says enough.
        logging.getLogger("ray.data").setLevel(logging.WARNING)
        self.worker_peaks = {}
        with tempfile.TemporaryDirectory(prefix="lmops-ray-", dir=self.scratch) as tmp:
            blocks = [str(path) for path in write_blocks(chunks, Path(tmp))]
            count = len(blocks)
            if count == 0:
                return
            mapped = ray.data.from_items(
                [{"path": path} for path in blocks], override_num_blocks=count
            ).map_batches(
                ChunkWorker,
                fn_constructor_args=(setup,),
                batch_size=1,
                batch_format="numpy",
                compute=ray.data.ActorPoolStrategy(size=min(self.workers, count)),
                num_cpus=self.cpus_per_worker,
            )
            yield from self._in_order(mapped, count)

    def _in_order(self, mapped: Any, count: int) -> Iterator[Any]:
        """The rows' results by chunk index, holding only those that arrived early."""
        early: dict[int, bytes] = {}
        expected = 0
        for row in mapped.iter_rows():
            worker = int(row["worker"])
            self.worker_peaks[worker] = max(self.worker_peaks.get(worker, 0), int(row["peak_kib"]))
            early[int(row["index"])] = row["result"]
            while expected in early:
                yield pickle.loads(early.pop(expected))
                expected += 1
        if expected != count:
            raise StageError(f"the ray engine returned {expected} of {count} chunks")
