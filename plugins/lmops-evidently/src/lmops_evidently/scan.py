"""One compiled pass over the UTF-8 bytes of a chunk of texts, for the text descriptors.

Arrow's kernels measure a column in several passes and cut words into a list
array of small strings; this loop reads each byte once and gives, per text,
its length in code points, its dominant script and whether it is plain
(ASCII and CJK characters only), and the lower-cased words of plain texts,
dictionary-encoded as they are cut (a hash table of the chunk's distinct words). The definitions stay those of :mod:`lmops_evidently.text`:
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


_SEED = -3750763034362895579  # FNV-1a's offset basis, as a signed 64-bit number
_PRIME = 1099511628211  # FNV-1a's prime; products wrap around in 64 bits


@numba.njit(inline="always")
def _hash(packed: Any, start: int, stop: int) -> int:
    """FNV-1a of ``packed[start:stop]``, as the pass computes it byte by byte."""
    hashed = _SEED
    for at in range(start, stop):
        hashed = (hashed ^ packed[at]) * _PRIME
    return hashed


@numba.njit(inline="always")
def _find(packed: Any, start: int, stop: int, hashed: int, slots: Any, bounds: Any) -> Any:
    """The id of the distinct word ``packed[start:stop]`` (or -1), and its slot in ``slots``
    (where it is, or the free slot where it goes): open addressing, linear probing."""
    mask = slots.shape[0] - 1
    slot = hashed & mask
    size = stop - start
    while True:
        known = slots[slot]
        if known < 0:
            return -1, slot
        first = bounds[known]
        if bounds[known + 1] - first == size:
            same = True
            for at in range(size):
                if packed[first + at] != packed[start + at]:
                    same = False
                    break
            if same:
                return known, slot
        slot = (slot + 1) & mask


@numba.njit
def _grown(size: int, packed: Any, bounds: Any, distinct: int, slot_of: Any) -> Any:
    """A table of ``size`` slots holding the first ``distinct`` words, inserted in order (so
    removing the latest ones still restores the table as it was before them)."""
    grown = np.full(size, -1, dtype=np.int64)
    mask = grown.shape[0] - 1
    for word in range(distinct):
        slot = _hash(packed, bounds[word], bounds[word + 1]) & mask
        while grown[slot] >= 0:
            slot = (slot + 1) & mask
        grown[slot] = word
        slot_of[word] = slot
    return grown


@numba.njit(inline="always")
def _word(
    packed: Any, stop: int, hashed: int, slots: Any, bounds: Any, distinct: int, slot_of: Any
) -> int:
    """The id of the word just cut (``packed[bounds[distinct]:stop]``, hashed ``hashed``):
    ``distinct`` when it is new, which it then becomes (the caller counts it)."""
    known, slot = _find(packed, bounds[distinct], stop, hashed, slots, bounds)
    if known >= 0:
        return known
    slots[slot] = distinct
    slot_of[distinct] = slot
    bounds[distinct + 1] = stop
    return distinct


@numba.njit
def _resized(values: Any, size: int) -> Any:
    """``values`` copied into a longer array of ``size`` (zeros after them)."""
    longer = np.zeros(size, dtype=np.int64)
    longer[: values.shape[0]] = values
    return longer


@numba.njit(inline="always")
def _most_words(offsets: Any, text: int) -> int:
    """The most words a text can have: each is followed by a byte that is no part of it,
    or ends the text."""
    return (offsets[text + 1] - offsets[text] + 1) // 2


@numba.njit(nogil=True)
def _pass(
    data: Any,
    offsets: Any,
    table: Any,
    first: int,
    found: int,
    distinct: int,
    lengths: Any,
    flags: Any,
    scripts: Any,
    counts: Any,
    packed: Any,
    codes: Any,
    bounds: Any,
    slot_of: Any,
    slots: Any,
    per_script: Any,
) -> Any:
    """Scan texts from ``first`` on (``found`` words and ``distinct`` ones so far) until
    the end, or until a text's words might not fit into ``slots``; return where it stopped
    and the words and distinct words found by then."""
    size = offsets.shape[0] - 1
    room = slots.shape[0] // 2
    for text in range(first, size):
        # Rebinding ``slots`` inside this loop would cost more than the whole pass, so the
        # caller grows it between passes: stop where this text's words might not fit.
        if distinct + _most_words(offsets, text) > room:
            return text, found, distinct
        start, stop = offsets[text], offsets[text + 1]
        points = 0
        plain = True
        ascii_only = True
        per_script[:] = 0
        latin = 0
        first_word, first_distinct = found, distinct
        written = bounds[distinct]  # the current word's bytes go from there
        hashed = _SEED
        in_word = 0
        at = start
        while at < stop:
            byte = data[at]
            points += 1
            if byte < 0x80:
                kind = _ASCII_KINDS[byte]
                word = kind & _WORD
                latin += kind >> 1
                if in_word > word:  # a word ends here
                    if plain:
                        known = _word(packed, written, hashed, slots, bounds, distinct, slot_of)
                        if known == distinct:
                            distinct += 1
                        codes[found] = known
                        found += 1
                    written = bounds[distinct]
                    hashed = _SEED
                lowered = _LOWER[byte]
                # Written whatever the byte is: a separator's is overwritten by the next one.
                packed[written] = lowered
                written += word
                if word:
                    hashed = (hashed ^ lowered) * _PRIME
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
                    known = _word(packed, written, hashed, slots, bounds, distinct, slot_of)
                    if known == distinct:
                        distinct += 1
                    codes[found] = known
                    found += 1
                    written = bounds[distinct]
                    hashed = _SEED
                    in_word = 0
                if width == 3 and _is_cjk_word(point):
                    for more in range(3):
                        packed[written] = data[at + more]
                        hashed = (hashed ^ data[at + more]) * _PRIME
                        written += 1
                    known = _word(packed, written, hashed, slots, bounds, distinct, slot_of)
                    if known == distinct:
                        distinct += 1
                    codes[found] = known
                    found += 1
                    written = bounds[distinct]
                    hashed = _SEED
                else:
                    plain = False
            at += width
        if in_word and plain:
            known = _word(packed, written, hashed, slots, bounds, distinct, slot_of)
            if known == distinct:
                distinct += 1
            codes[found] = known
            found += 1
        lengths[text] = points
        per_script[1 + _LATIN] += latin
        flags[text] = (_ASCII if ascii_only else 0) | (_PLAIN if plain else 0)
        scripts[text] = _dominant(per_script)
        if plain:
            counts[text] = found - first_word
        else:
            # Python cuts this text's words: forget the ones found here, and the distinct
            # words they added (latest first, which restores the table as it was).
            for word in range(distinct - 1, first_distinct - 1, -1):
                slots[slot_of[word]] = -1
            found, distinct = first_word, first_distinct
    return size, found, distinct


def _scan(data: Any, offsets: Any, table: Any) -> Any:
    """See :func:`scan_texts`; ``offsets`` are int64 and relative to ``data``.

    Each word of a plain text is looked up, once cut, in a hash table of the chunk's
    distinct words: a new word keeps its bytes in ``packed`` (``bounds`` delimits them),
    a known one gives its id and its bytes are written over by the next word.
    """
    size = offsets.shape[0] - 1
    lengths = np.zeros(size, dtype=np.int64)
    flags = np.zeros(size, dtype=np.uint8)
    scripts = np.zeros(size, dtype=np.int64)
    counts = np.zeros(size, dtype=np.int64)
    packed = np.empty(data.shape[0] + 1, dtype=np.uint8)
    # A word is followed by a byte that is no part of it, or ends its text (a CJK word
    # is three bytes): at most (bytes + texts) / 2 words.
    most = (data.shape[0] + size) // 2 + 2
    codes = np.empty(most, dtype=np.int32)
    per_script = np.zeros(_SCRIPTS + 1, dtype=np.int64)
    # The table, and each distinct word's bounds and slot, hold as many words as fit
    # into half the table (grown with it).
    slots = np.full(1024, -1, dtype=np.int64)
    bounds = np.zeros(512 + 2, dtype=np.int64)
    slot_of = np.zeros(512 + 1, dtype=np.int64)
    text = found = distinct = 0  # texts scanned, words, distinct words
    while True:
        text, found, distinct = _pass(
            data,
            offsets,
            table,
            text,
            found,
            distinct,
            lengths,
            flags,
            scripts,
            counts,
            packed,
            codes,
            bounds,
            slot_of,
            slots,
            per_script,
        )
        if text == size:
            break
        # The next text could add more distinct words than the table has room for.
        room = slots.shape[0]
        while 2 * (distinct + _most_words(offsets, text)) > room:
            room *= 2
        bounds = _resized(bounds, room // 2 + 2)
        slot_of = _resized(slot_of, room // 2 + 1)
        slots = _grown(room, packed, bounds, distinct, slot_of)
    return (
        lengths,
        flags,
        scripts,
        counts,
        codes[:found],
        packed[: bounds[distinct]],
        bounds[: distinct + 1],
    )


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
    codes: np.ndarray
    """The words of the plain texts, text after text, each as its index in ``distinct``."""
    distinct: pa.Array
    """The distinct words of the plain texts (``large_string``), in order of appearance."""


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
    lengths, flags, scripts, counts, codes, packed, bounds = _compiled(
        data, (offsets - first).astype(np.int64), SCRIPT_TABLE
    )
    distinct = pa.Array.from_buffers(
        pa.large_string(), len(bounds) - 1, [None, pa.py_buffer(bounds), pa.py_buffer(packed)]
    )
    return Scanned(
        lengths=lengths,
        ascii=(flags & _ASCII) > 0,
        plain=(flags & _PLAIN) > 0,
        scripts=scripts,
        counts=counts,
        codes=codes,
        distinct=distinct,
    )
