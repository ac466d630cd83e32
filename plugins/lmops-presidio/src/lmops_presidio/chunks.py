"""Redacting chunks of texts, in this process or in a pool of worker processes.

Workers are started with ``spawn`` (forking a process that already runs
numeric libraries' thread pools can deadlock) and set up by
:mod:`lmops_presidio.worker`, which loads the engines once per worker.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lmops_core.errors import StageError
from lmops_core.runtimes import ChunkMapper
from lmops_presidio.config import GuardConfig
from lmops_presidio.worker import WorkerSetup, init_worker, ready_guard, redact_in_worker

if TYPE_CHECKING:
    from lmops_presidio.guard import PiiGuard


@dataclass
class ChunkResult:
    """Redacted texts of one chunk, which were changed, and counts by entity type."""

    texts: list[str]
    touched: list[bool]
    before: Counter[str] = field(default_factory=Counter)
    after: Counter[str] = field(default_factory=Counter)
    same_span: Counter[str] = field(default_factory=Counter)
    """``"WINNER over LOSER"``: spans two types matched, counted once as the winner."""


def redact_chunk(guard: PiiGuard, texts: list[str]) -> ChunkResult:
    """Redact ``texts`` and re-scan what changed to count what is left.

    A text with no finding is written unchanged, and analysing the same text
    again gives the same (empty) answer, so re-scanning only changed texts
    counts the output's findings exactly. The re-scan blanks what the
    operators wrote (:meth:`PiiGuard.leftovers`), so only real leftovers count.
    """
    redactions = guard.redact_batch(texts)
    before: Counter[str] = Counter()
    same_span: Counter[str] = Counter()
    for redaction in redactions:
        before.update(finding.entity_type for finding in redaction.findings)
        same_span.update(
            f"{finding.entity_type} over {loser}"
            for finding in redaction.findings
            for loser in finding.also
        )
    changed = [r for r in redactions if r.findings]
    after: Counter[str] = Counter()
    for findings in guard.leftovers(changed):
        after.update(finding.entity_type for finding in findings)
    return ChunkResult(
        texts=[r.text for r in redactions],
        touched=[bool(r.findings) for r in redactions],
        before=before,
        after=after,
        same_span=same_span,
    )


def redact_chunks(
    config: GuardConfig,
    chunks: Iterable[list[str]],
    *,
    workers: int,
    engine: ChunkMapper | None = None,
) -> Iterator[ChunkResult]:
    """Results of :func:`redact_chunk` for each chunk, in order.

    With ``workers > 1`` chunks go to a process pool, at most two per worker
    in flight so memory stays bounded on large datasets. An ``engine`` other
    than ``local`` (a Ray cluster) runs them instead, with one guard per worker.
    """
    if engine is not None and engine.name != "local":
        yield from engine.map_chunks(WorkerSetup(config), chunks)
        return
    if workers <= 1:
        guard = ready_guard(config)
        for chunk in chunks:
            yield redact_chunk(guard, chunk)
        return
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=init_worker, initargs=(config,)
        ) as pool:
            pending: list[Future[ChunkResult]] = []
            for chunk in chunks:
                pending.append(pool.submit(redact_in_worker, chunk))
                if len(pending) >= 2 * workers:
                    yield pending.pop(0).result()
            for future in pending:
                yield future.result()
    except BrokenProcessPool as exc:
        raise StageError(
            "pii-redact: a worker process died before finishing its chunk (out of memory, or a "
            'script starting workers without an `if __name__ == "__main__":` guard); '
            "run again with workers=1 to see the underlying error"
        ) from exc
