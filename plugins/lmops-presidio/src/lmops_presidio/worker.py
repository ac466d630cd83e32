"""What runs inside a worker process of the ``pii-redact`` step.

Kept free of heavy imports: a spawned worker imports this module first, and
:func:`init_worker` decides what presidio may pull in before importing it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lmops_presidio.config import GuardConfig

if TYPE_CHECKING:
    from lmops_presidio.chunks import ChunkResult
    from lmops_presidio.guard import PiiGuard

_GUARD: PiiGuard | None = None

# presidio imports transformers and spaCy's thinc imports torch whenever they
# are installed, for engines and layers a worker never uses (the NER model of
# spaCy's small pipelines runs on numpy); in a fresh worker that import costs
# seconds. Both libraries treat an ImportError as "not installed".
_UNUSED_BY_WORKERS = ("transformers", "torch")


WARM_UP = "warm up: 李娜 Ada, ada@example.com, 13812345678"
"""A text every engine reads: the NER models, the compiled decoders, the e-mail suffix list."""


def ready_guard(config: GuardConfig) -> PiiGuard:
    """The guard ``pii-redact`` redacts with, in its own process or in a worker.

    Its engines are loaded and each used once, then the process's heap is settled
    (:func:`lmops_core.heap.settle_heap`, once per process): the models' objects stay
    for the process's life, and a full garbage collection walking them took 0.3-0.38 s
    of CPU each time one fell inside a run.
    """
    from lmops_core.heap import settle_heap
    from lmops_presidio.guard import PiiGuard

    guard = PiiGuard(config)
    guard.redact_batch([WARM_UP])
    settle_heap()
    return guard


def init_worker(config: GuardConfig) -> None:
    """Set up a worker process: build its guard and load the engines, once."""
    global _GUARD
    for name in _UNUSED_BY_WORKERS:
        # A None entry makes `import name` raise ImportError, which presidio
        # handles as "not installed". Only done in processes we started.
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    _GUARD = ready_guard(config)


def redact_in_worker(texts: list[str]) -> ChunkResult:
    """Redact one chunk with this worker's guard."""
    from lmops_presidio.chunks import redact_chunk

    if _GUARD is None:
        raise RuntimeError("init_worker must run before redact_in_worker")
    return redact_chunk(_GUARD, texts)


@dataclass(frozen=True)
class WorkerSetup:
    """A data engine's per-worker setup: build the guard once, then redact chunks with it."""

    config: GuardConfig

    def __call__(self) -> Callable[[list[str]], ChunkResult]:
        init_worker(self.config)
        return redact_in_worker
