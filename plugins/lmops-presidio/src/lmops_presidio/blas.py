"""numpy's BLAS held to one thread while the guard computes.

OpenBLAS starts a thread per core and, after each product, lets them spin
waiting for the next one. On the small products the guard makes (a batch of
NER tokens, the LAC projections of the characters first read in a chunk) the
spinning costs more CPU than the threads save: on the distinct bilingual texts
the LAC projections alone cost 0.15-0.2 CPU-s more with two threads than with
one. ``pii-redact`` parallelises with worker processes instead.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]


class OneBlasThread:
    """A context in which numpy's BLAS runs one thread, shared by threads of the process.

    BLAS thread counts are process-wide. The first caller in sets the limit and the last
    one out puts back what was there before, so callers that overlap in threads neither
    restore the old count under one another nor leave the process held to one thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._limiter: Any = None

    def __enter__(self) -> None:
        with self._lock:
            if self._inside == 0:
                self._limiter = blas_controller().limit(limits=1, user_api="blas")
            self._inside += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._inside -= 1
            if self._inside == 0:
                self._limiter.restore_original_limits()
                self._limiter = None


@lru_cache(maxsize=1)
def blas_controller() -> ThreadpoolController:
    """The BLAS libraries loaded in this process (numpy's among them), found once."""
    return ThreadpoolController()


ONE_BLAS_THREAD = OneBlasThread()
"""The context numpy's BLAS runs in while the guard computes: the English NER
(:meth:`~lmops_presidio.engines.NerOnlySpacyNlpEngine.process_batch`) and LAC's
per-character projections (:class:`~lmops_presidio.lac_net.LacNet`)."""
