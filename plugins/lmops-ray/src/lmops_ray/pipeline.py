"""Work listed up front, run as one Ray Data pipeline: ``from_items`` → ``map_batches`` on actors.

Each chunk (a partition's row group to read and process, a partition to check) is one
row of a Ray Data dataset, one block each, so the actors share the work however few the
chunks are (Ray Data would otherwise pack small inputs into one block, and one actor).
An actor (:class:`PlannedWorker`) builds the step's function once in ``__init__`` (the
Presidio analyzer, the MinHash), then runs it on each chunk; the chunks' own data (the
rows) are read by the worker, by path, never shipped by the caller. Results come back
through ``iter_batches`` in the input's order (``preserve_order``).
"""

from __future__ import annotations

import os
import pickle
import resource
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from lmops_core.errors import LmopsError, PluginError
from lmops_core.runtimes import ChunkFunction
from lmops_ray.mapper import AHEAD

#: Seconds the pipeline waits for its workers to start before it fails, naming the pool.
ACTOR_START_TIMEOUT_S = 600
#: The one column each pipeline row carries in and out: a pickled chunk, then its result.
CELL = "cell"


class PlannedWorker:
    """One Ray Data actor: builds the step's chunk function once, then runs it per row.

    A :class:`~lmops_core.errors.LmopsError` (a bad record, named by file and row) is
    returned as a value, so the caller raises the very error the local engine raises.
    """

    def __init__(self, setup: Callable[[], ChunkFunction]) -> None:
        self.function = setup()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        out = []
        for cell in batch[CELL]:
            try:
                result: Any = ("ok", self.function(pickle.loads(cell)))
            except LmopsError as exc:
                result = ("error", exc)
            peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            out.append(pickle.dumps((*result, os.getpid(), peak_kib), pickle.HIGHEST_PROTOCOL))
        return {CELL: np.array(out, dtype=object)}


def run_planned(
    setup: Callable[[], ChunkFunction],
    chunks: Sequence[list[Any]],
    *,
    workers: int,
    cpus_per_worker: float,
    peaks: dict[int, int],
    env: Mapping[str, str] | None = None,
) -> Iterator[Any]:
    """``setup()(chunk)`` per chunk on ``workers`` Ray Data actors, in order (see the module).

    ``peaks`` receives each worker process's peak resident memory (KiB). ``env`` goes into
    the actors' environment through Ray's ``runtime_env`` (never into a log of ours).
    """
    import ray

    if not chunks:
        return
    cells = [{CELL: pickle.dumps(chunk, pickle.HIGHEST_PROTOCOL)} for chunk in chunks]
    dataset = ray.data.from_items(cells, override_num_blocks=len(cells))
    context = dataset.context
    # Results in the input's order: the step decides on them in that order.
    context.execution_options.preserve_order = True
    # The step reports its own progress; Ray Data's bars and banners would fill the log.
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    # Every worker is up before the first chunk is handed out, so a few chunks still spread
    # over all of them; a pool the cluster cannot place fails in this time, clearly.
    context.wait_for_min_actors_s = ACTOR_START_TIMEOUT_S
    mapped = dataset.map_batches(
        PlannedWorker,
        fn_constructor_args=(setup,),
        batch_size=1,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(
            size=min(workers, len(cells)), max_tasks_in_flight_per_actor=AHEAD + 1
        ),
        # Below one CPU each when the workers would take every CPU: an actor pool holding
        # all of a 2-CPU Ray's CPUs starves the pipeline's own tasks, and it never progresses.
        num_cpus=cpus_per_worker,
        **_remote_args(env),
    )
    try:
        batches = mapped.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1)
        for batch in batches:
            for cell in batch[CELL]:
                status, value, worker, peak_kib = pickle.loads(cell)
                peaks[worker] = max(peaks.get(worker, 0), peak_kib)
                if status == "error":
                    raise value
                yield value
    except ray.exceptions.GetTimeoutError as exc:
        raise PluginError(
            f"the Ray cluster could not start {workers} data workers of {cpus_per_worker:g} CPU "
            f"each within {ACTOR_START_TIMEOUT_S} s: {exc}",
            engine="ray",
        ) from exc


def _remote_args(env: Mapping[str, str] | None) -> dict[str, Any]:
    """The actors' environment additions, as Ray's ``runtime_env`` (none: Ray's default)."""
    return {"runtime_env": {"env_vars": dict(env)}} if env else {}
