"""One compiled pass over the UTF-8 bytes of a chunk of texts, for the text descriptors.

Arrow's kernels measure a column in several passes and cut words into a list
array of small strings; this loop reads each byte once and gives, per text,
its length in code points, its dominant script and whether it is plain
(ASCII and CJK characters only), and the lower-cased words of plain texts,
packed end to end. The definitions stay those of :mod:`lmops_evidently.text`:
in a plain text a word is a run of ``[a-z0-9_]`` (after lower-casing A-Z) or
one CJK character, exactly what :data:`~lmops_evidently.text.WORD_PATTERN`
finds there; words of other texts are left to Python (see
:class:`~lmops_evidently.columnar.TextColumn`).

Compiled with numba, from its on-disk cache when it can keep one. The first
call in a process initialises numba's compiler (a few tenths of a CPU second,
measured), later calls cost only the pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import pyarrow as pa

from lmops_evidently.text import SCRIPT_TABLE, SCRIPTS

_CJK = SCRIPTS.index("cjk")
_LATIN = SCRIPTS.index("latin")
_SCRIPTS = len(SCRIPTS)
_WORD = 1
_LETTER = 2


def _ascii_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per ASCII byte: its kind (:data:`_WORD` for ``[A-Za-z0-9_]``, plus :data:`_LETTER`
    for a letter), and the byte lower-cased."""
    kinds = np.zeros(128, dtype=np.int64)
    lower = np.arange(128, dtype=np.uint8)
    for byte in b"0123456789_":
        kinds[byte] = _WORD
    for byte in b"ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        kinds[byte] = kinds[byte + 32] = _WORD | _LETTER
        lower[byte] = byte + 32
    return kinds, lower


_ASCII_KINDS, _LOWER = _ascii_tables()
_ASCII = 1
_PLAIN = 2


@numba.njit(inline="always")
def _is_cjk_word(point: int) -> bool:
    # The ranges of text.CJK_CLASS (all of them three bytes long in UTF-8).
    return (
        0x3040 <= point <= 0x30FF
        or 0x3400 <= point <= 0x4DBF
        or 0x4E00 <= point <= 0x9FFF
        or 0xF900 <= point <= 0xFAFF
        or 0xAC00 <= point <= 0xD7AF
    )


def _scan(data: Any, offsets: Any, table: Any) -> Any:
    """See :func:`scan_texts`; ``offsets`` are int64 and relative to ``data``."""
    size = offsets.shape[0] - 1
    lengths = np.zeros(size, dtype=np.int64)
    flags = np.zeros(size, dtype=np.uint8)
    scripts = np.zeros(size, dtype=np.int64)
    counts = np.zeros(size, dtype=np.int64)
    packed = np.empty(data.shape[0] + 1, dtype=np.uint8)
    # A word is followed by a byte that is no part of it, or ends its text (a CJK word
    # is three bytes): at most (bytes + texts) / 2 words; two scratch slots past them.
    ends = np.zeros((data.shape[0] + size) // 2 + 3, dtype=np.int64)
    per_script = np.zeros(_SCRIPTS + 1, dtype=np.int64)
    written = 0  # bytes of words packed so far
    found = 0  # words so far
    for text in range(size):
        start, stop = offsets[text], offsets[text + 1]
        points = 0
        plain = True
        ascii_only = True
        per_script[:] = 0
        latin = 0
        first_word, first_byte = found, written
        in_word = 0
        at = start
        while at < stop:
            byte = data[at]
            points += 1
            if byte < 0x80:
                # Branch-free: words and separators alternate too often to predict.
                kind = _ASCII_KINDS[byte]
                word = kind & _WORD
                latin += kind >> 1
                # Slots past the last word are scratch, overwritten once it ends.
                packed[written] = _LOWER[byte]
                ends[found + 1] = written
                found += in_word & (word ^ 1)
                written += word
                in_word = word
                at += 1
                continue
            ascii_only = False
            if byte >= 0xF0:
                width, point = 4, byte & 0x07
            elif byte >= 0xE0:
                width, point = 3, byte & 0x0F
            else:
                width, point = 2, byte & 0x1F
            if at + width > stop:  # cut short (not valid UTF-8): count what is there
                width = stop - at
            for more in range(1, width):
                point = (point << 6) | (data[at + more] & 0x3F)
            if point < 0x10000:
                per_script[table[point]] += 1
            elif 0x20000 <= point < 0x32000:
                per_script[_CJK + 1] += 1
            if plain:
                if in_word:
                    found += 1
                    ends[found] = written
                    in_word = 0
                if width == 3 and _is_cjk_word(point):
                    for more in range(3):
                        packed[written] = data[at + more]
                        written += 1
                    found += 1
                    ends[found] = written
                else:
                    plain = False
            at += width
        if in_word:
            found += 1
            ends[found] = written
        lengths[text] = points
        per_script[1 + _LATIN] += latin
        flags[text] = (_ASCII if ascii_only else 0) | (_PLAIN if plain else 0)
        scripts[text] = _dominant(per_script)
        if plain:
            counts[text] = found - first_word
        else:  # Python cuts this text's words: forget the ones packed here
            found, written = first_word, first_byte
    return lengths, flags, scripts, counts, packed[:written], ends[: found + 1]


@numba.njit(inline="always")
def _dominant(per_script: Any) -> int:
    """The index in SCRIPT_LABELS of the most frequent script (the first of equals), or
    ``_SCRIPTS`` ("none") when the text has no letter; ``per_script[0]`` counts
    non-letters."""
    best = -1
    most = 0
    for script in range(_SCRIPTS):
        if per_script[script + 1] > most:
            most = per_script[script + 1]
            best = script
    return best if best >= 0 else _SCRIPTS


# From numba's on-disk cache when it can keep one: compiling takes seconds of CPU.
try:
    _compiled: Any = numba.njit(cache=True, nogil=True)(_scan)
except RuntimeError:  # no writable cache location: compiled once per process
    _compiled = numba.njit(nogil=True)(_scan)


@dataclass(frozen=True)
class Scanned:
    """What one pass over a chunk of texts found (one entry per text unless said otherwise)."""

    lengths: np.ndarray
    """Code points, as ``len`` counts them."""
    ascii: np.ndarray
    """Whether the text is ASCII only."""
    plain: np.ndarray
    """Whether the text holds only ASCII and CJK characters."""
    scripts: np.ndarray
    """Index in :data:`~lmops_evidently.text.SCRIPT_LABELS` of the dominant script."""
    counts: np.ndarray
    """Words of each plain text (0 for the others)."""
    words: pa.Array
    """The words of the plain texts, text after text, as one ``large_string`` array."""


def scan_texts(texts: pa.Array) -> Scanned:
    """Scan ``texts`` (a string or large_string array without nulls) in one pass."""
    kind = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    _, offsets_buffer, data_buffer = texts.buffers()
    offsets = np.frombuffer(
        offsets_buffer, dtype=kind, count=len(texts) + 1, offset=texts.offset * kind().itemsize
    )
    first, last = int(offsets[0]), int(offsets[-1])
    data = (
        np.frombuffer(data_buffer, dtype=np.uint8, count=last - first, offset=first)
        if last > first
        else np.zeros(0, np.uint8)
    )
    lengths, flags, scripts, counts, packed, ends = _compiled(
        data, (offsets - first).astype(np.int64), SCRIPT_TABLE
    )
    words = pa.Array.from_buffers(
        pa.large_string(), len(ends) - 1, [None, pa.py_buffer(ends), pa.py_buffer(packed)]
    )
    return Scanned(
        lengths=lengths,
        ascii=(flags & _ASCII) > 0,
        plain=(flags & _PLAIN) > 0,
        scripts=scripts,
        counts=counts,
        words=words,
    )
