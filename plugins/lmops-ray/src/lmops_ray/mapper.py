"""The ``ray`` engine's mapper: a step's chunks on Ray, results in order.

Chunks a caller feeds one by one (a JSONL input's) run on a pool of Ray actors driven
here; work listed up front (a partitioned input's row groups) runs as a Ray Data
pipeline (:mod:`lmops_ray.pipeline`).
"""

from __future__ import annotations

import os
import resource
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from lmops_core.errors import LmopsError
from lmops_core.runtimes import ChunkFunction
from lmops_ray.blocks import read_block, write_blocks

#: Chunks queued per worker beyond the one it runs: enough to keep it busy, few enough that
#: the caller holds only ``workers * (AHEAD + 1)`` chunks at a time, whatever the input's size.
AHEAD = 1


class ChunkWorker:
    """One Ray actor: builds the step's chunk function once, then runs it on each block.

    Whatever ``setup`` builds (a Presidio analyzer, MinHash permutations) is
    built once per worker, never per record.
    """

    def __init__(self, setup: Callable[[], ChunkFunction]) -> None:
        self.function = setup()

    def run(self, path: str) -> tuple[Any, int, int]:
        """The result of the chunk in the block at ``path``, this process's id and peak RSS."""
        _, chunk = read_block(Path(path))
        result = self.function(chunk)
        return result, os.getpid(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class RayMapper:
    """Runs chunk functions on ``workers`` Ray actors, staging blocks under ``scratch``.

    Chunks are taken from the caller's iterator only as workers have room for
    them (see :data:`AHEAD`): each is written as a Parquet block, handed to the
    next actor in turn, and its block deleted once its result is back, so
    neither the caller nor the scratch folder ever holds the whole input. The
    results come back in the input's order. ``worker_peaks`` holds the peak
    resident memory (KiB) each worker process reported in the last run.
    """

    name = "ray"

    def __init__(self, *, workers: int, cpus: int, scratch: Path | None = None) -> None:
        self.workers = workers
        # One CPU of the cluster stays free for the caller, which decides and writes
        # while the workers compute.
        self.cpus_per_worker = min(1.0, max(cpus - 1, 1) / workers)
        self.scratch = scratch
        self.worker_peaks: dict[int, int] = {}

    def map_chunks(
        self, setup: Callable[[], ChunkFunction], chunks: Iterable[list[Any]]
    ) -> Iterator[Any]:
        """``setup()(chunk)`` for each chunk, computed on the cluster, in the order of ``chunks``."""
        import ray

        self.worker_peaks = {}
        actor_class = ray.remote(num_cpus=self.cpus_per_worker)(ChunkWorker)
        actors: list[Any] = []
        pending: deque[tuple[Path, Any]] = deque()
        try:
            with tempfile.TemporaryDirectory(prefix="lmops-ray-", dir=self.scratch) as tmp:
                for index, block in enumerate(write_blocks(chunks, Path(tmp))):
                    if len(actors) < self.workers:  # started as the first chunks arrive
                        actors.append(actor_class.remote(setup))
                    pending.append((block, actors[index % self.workers].run.remote(str(block))))
                    if len(pending) >= self.workers * (AHEAD + 1):
                        yield self._collect(*pending.popleft())
                while pending:
                    yield self._collect(*pending.popleft())
        finally:
            for actor in actors:
                ray.kill(actor)

    def map_planned(
        self,
        setup: Callable[[], ChunkFunction],
        chunks: Sequence[list[Any]],
        *,
        env: Mapping[str, str] | None = None,
    ) -> Iterator[Any]:
        """``setup()(chunk)`` for each chunk, as one Ray Data pipeline, in the order of ``chunks``.

        Used when every chunk is known up front (a partitioned input's row groups, the
        partitions to write or check): see :mod:`lmops_ray.pipeline`. A step may run
        several in a row, so ``worker_peaks`` gathers the peaks of all of them (one
        entry per worker process: each pipeline starts its own actors). ``env`` is set in
        the actors' environment (Ray's ``runtime_env``): the artifact store's endpoint and
        credentials when the workers read and write partitions there.
        """
        from lmops_ray.pipeline import run_planned

        yield from run_planned(
            setup,
            chunks,
            workers=self.workers,
            cpus_per_worker=self.cpus_per_worker,
            peaks=self.worker_peaks,
            env=env,
        )

    def _collect(self, block: Path, ref: Any) -> Any:
        import ray

        try:
            result, worker, peak_kib = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, LmopsError):
                # A bad record found by a worker: the same error the local engine raises,
                # naming the file, line and field, not Ray's wrapper around it.
                raise exc.cause from None
            raise
        block.unlink(missing_ok=True)
        self.worker_peaks[worker] = max(self.worker_peaks.get(worker, 0), peak_kib)
        return result
