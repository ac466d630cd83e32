"""Vectorised passes over the UTF-8 bytes of a chunk of texts, for the text descriptors.

numpy reads a string array's own buffers (zero-copy) and gives, per text, its
length in code points, its dominant script, whether it is plain (ASCII and CJK
characters only), and, for plain texts, where each word starts. The definitions
stay those of :mod:`lmops_evidently.text`: in a plain text a word is a run of
``[A-Za-z0-9_]`` (lower-cased) or one CJK character, exactly what
:data:`~lmops_evidently.text.WORD_PATTERN` finds there; words of other texts are
left to Python (see :class:`~lmops_evidently.columnar.TextColumn`).

Words are not copied out of the texts. The chunk is cut into *pieces* at every
word start of a plain text and at every text start; the pieces are a string
array over the texts' own data buffer. A piece that starts with a word holds
that word and the separators up to the next piece; the others (a plain text's
leading separators, a whole non-plain text) are flagged. Arrow dictionary-encodes
the pieces, and :func:`leading_words` turns the few distinct pieces into their
words (lower-cased).

Arrow's string arrays hold valid UTF-8 (its JSON and Parquet readers and
``pa.array`` check it), so a character starts at every byte that is not a
continuation byte (``0b10xxxxxx``). Per-byte work uses byte-sized masks; integer
arrays are made per non-ASCII character or per piece. Chunks are measured in
blocks of about :data:`BLOCK_BYTES`, so temporaries stay small whatever the
chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from lmops_evidently.text import SCRIPT_TABLE, SCRIPTS

BLOCK_BYTES = 1 << 20
"""Bytes of text measured at a time (whole texts: a longer text is a block of its own)."""

_CJK = SCRIPTS.index("cjk")
_LATIN = SCRIPTS.index("latin")
_SCRIPTS = len(SCRIPTS)

# The ranges of text.CJK_CLASS: each character is a word; all are three bytes in UTF-8.
_CJK_WORD_RANGES = (
    (0x3040, 0x30FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xAC00, 0xD7AF),
)
_CJK_WORD = 8
"""Flag of :data:`_CHARACTERS`: the character is a word by itself."""


def _character_table() -> np.ndarray:
    """Per BMP code point: its :data:`~lmops_evidently.text.SCRIPT_TABLE` entry, plus
    :data:`_CJK_WORD` when it is a word by itself (a CJK character)."""
    table = SCRIPT_TABLE.astype(np.uint8)
    for first, last in _CJK_WORD_RANGES:
        table[first : last + 1] |= _CJK_WORD
    return table


_CHARACTERS = _character_table()


@dataclass(frozen=True)
class Scanned:
    """What the passes over a chunk of texts found (one entry per text unless said otherwise)."""

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
    pieces: pa.Array
    """The texts cut at each word start of a plain text and at each text start
    (``large_string``, over the texts' own bytes; empty texts have none)."""
    owners: np.ndarray
    """Per piece, the index of its text."""
    worded: np.ndarray
    """Per piece, whether it starts with a word of a plain text."""


def _bytes(texts: pa.Array) -> tuple[np.ndarray, np.ndarray, pa.Buffer | None]:
    """The texts' bytes, their int64 offsets relative to the first one, and the data buffer."""
    kind = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    _, offsets_buffer, data_buffer = texts.buffers()
    offsets = np.frombuffer(
        offsets_buffer, dtype=kind, count=len(texts) + 1, offset=texts.offset * kind().itemsize
    ).astype(np.int64)
    first, last = int(offsets[0]), int(offsets[-1])
    if last == first:
        return np.zeros(0, np.uint8), offsets - first, None
    data = np.frombuffer(data_buffer, dtype=np.uint8, count=last - first, offset=first)
    return data, offsets - first, data_buffer.slice(first, last - first)


_ONES = np.uint64(0x0101010101010101)
_HEAD = np.array([(1 << (8 * k)) - 1 for k in range(8)], dtype=np.uint64)
"""Masks of a little-endian word's first 0-7 bytes."""


def _sums(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per text, how many of its bytes ``mask`` holds (``offsets``: one per text and one
    past the last; ``mask`` padded with False to a multiple of 8 bytes, plus 8).

    Eight mask bytes are summed at once: multiplied by 0x0101...01, a word of 0/1 bytes
    holds their sum in its top byte.
    """
    blocks = mask.view(np.uint64)
    per_block = (blocks * _ONES) >> np.uint64(56)
    block, within = np.divmod(offsets, 8)
    # Whole blocks from a text's first block up to the one holding its end (the padding
    # leaves a block past the data: every index is in range).
    whole = np.add.reduceat(per_block, block)[:-1]
    whole[block[1:] == block[:-1]] = 0
    head = ((blocks[block] & _HEAD[within]) * _ONES >> np.uint64(56)).astype(np.int64)
    return whole.astype(np.int64) - head[:-1] + head[1:]


def _padded_mask(size: int) -> np.ndarray:
    """A False mask of ``size`` bytes with room for :func:`_sums` (see there)."""
    return np.zeros(size + (-size) % 8 + 8, dtype=bool)


def _per_text(positions: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Per text, how many of the sorted byte ``positions`` fall in it."""
    return np.diff(np.searchsorted(positions, offsets))


def _word_bytes(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per byte: whether it is an ASCII letter (padded, see :func:`_sums`), and whether it
    is in ``[A-Za-z0-9_]``."""
    folded = data | np.uint8(0x20)
    folded -= np.uint8(ord("a"))  # wraps below "a": only letters end under 26
    letter = _padded_mask(data.shape[0])
    np.less(folded, 26, out=letter[: data.shape[0]])
    shifted = data - np.uint8(ord("0"))
    word = shifted < 10
    word |= letter[: data.shape[0]]
    word |= data == ord("_")
    return letter, word


def _characters(data: np.ndarray, leads: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the characters starting at the non-ASCII bytes ``leads``: their entries in
    :data:`_CHARACTERS` (supplementary code points: their script only), and how many
    continuation bytes follow each."""
    padded = np.concatenate([data, np.zeros(3, dtype=np.uint8)])
    first = data[leads]
    second = (padded[leads + 1] & 0x3F).astype(np.uint32)
    third = (padded[leads + 2] & 0x3F).astype(np.uint32)
    following = (first >= 0xE0).astype(np.uint8)
    following += 1
    # Three bytes (CJK and most of the BMP): 1110aaaa 10bbbbbb 10cccccc.
    point = (first & 0x0F).astype(np.uint32) << 12
    point |= second << 6
    point |= third
    two = first < 0xE0  # 110aaaaa 10bbbbbb
    if two.any():
        point[two] = ((first[two] & 0x1F).astype(np.uint32) << 6) | second[two]
    four = first >= 0xF0  # 11110aaa 10bbbbbb 10cccccc 10dddddd
    if not four.any():
        return _CHARACTERS[point], following
    following += four
    wide = (first[four] & 0x07).astype(np.uint32) << 18
    wide |= second[four] << 12
    wide |= third[four] << 6
    wide |= padded[leads[four] + 3] & 0x3F
    point[four] = 0
    codes = _CHARACTERS[point]
    # Supplementary planes: CJK extensions B-G are letters we can place; the rest
    # (emoji, symbols, historic scripts) do not decide a text's script.
    codes[four] = np.where((wide >= 0x20000) & (wide < 0x32000), _CJK + 1, 0)
    return codes, following


def _dominant(per_script: np.ndarray) -> np.ndarray:
    """Per row of letter counts by script, the index of the most frequent (the first of
    equals), or ``_SCRIPTS`` ("none") when the text has no letter."""
    best: np.ndarray = per_script.argmax(axis=1)
    return np.where(per_script.max(axis=1) > 0, best, _SCRIPTS)


@dataclass(frozen=True)
class _Block:
    """What :func:`_scan_block` found: :class:`Scanned`'s fields, piece starts for pieces."""

    lengths: np.ndarray
    ascii: np.ndarray
    plain: np.ndarray
    scripts: np.ndarray
    counts: np.ndarray
    starts: np.ndarray
    owners: np.ndarray
    worded: np.ndarray


def _scan_block(data: np.ndarray, offsets: np.ndarray) -> _Block:
    """Measure the texts of ``data`` (their bytes, end to end; ``offsets`` relative, int64)."""
    size = offsets.shape[0] - 1
    texts = np.arange(size, dtype=np.int64)
    nbytes = np.diff(offsets)
    nonempty = nbytes > 0
    firsts = offsets[:-1][nonempty]
    leads = np.flatnonzero(data >= 0xC0)  # non-ASCII characters (valid UTF-8)
    per_text = _per_text(leads, offsets)
    text_of_lead = np.repeat(texts, per_text)
    codes, following = _characters(data, leads)
    # Each non-ASCII character is one code point and ``following`` bytes more.
    within = np.concatenate([[0], np.cumsum(following, dtype=np.int64)])
    at = np.concatenate([[0], np.cumsum(per_text)])
    lengths = nbytes - (within[at[1:]] - within[at[:-1]])
    ascii_only = per_text == 0
    # Letters per script: ASCII ones by a byte mask, the others by code point.
    letter, word = _word_bytes(data)
    columns = _SCRIPTS + 1
    script = (codes & (_CJK_WORD - 1)).astype(np.int64)
    per_script = np.bincount(text_of_lead * columns + script, minlength=size * columns)
    per_script = per_script.reshape(size, columns)[:, 1:]
    per_script[:, _LATIN] += _sums(letter, offsets)
    scripts = _dominant(per_script)
    # A non-ASCII character other than a CJK word makes its text not plain.
    plain = np.bincount(text_of_lead[codes < _CJK_WORD], minlength=size) == 0
    # Pieces start where a run of ASCII word bytes starts, at every non-ASCII character
    # (a CJK word, in a plain text) and at every text start; not inside other texts.
    padded = _padded_mask(data.shape[0])
    cuts = padded[: data.shape[0]]
    if cuts.shape[0]:
        cuts[0] = word[0]
    np.greater(word[1:], word[:-1], out=cuts[1:])
    cuts[leads] = True
    if not plain.all():
        cuts &= np.repeat(plain, nbytes)
    cuts[firsts] = True
    starts = np.flatnonzero(cuts)
    pieces = _sums(padded, offsets)
    owners = np.repeat(texts, pieces)
    # Inside a plain text every cut is a word start; a text's first piece may be none.
    worded = np.ones(starts.shape[0], dtype=bool)
    leading = np.cumsum(pieces)[nonempty] - pieces[nonempty]
    worded[leading] = plain[nonempty] & (word[firsts] | (data[firsts] >= 0x80))
    counts = np.where(plain, pieces, 0)
    counts[nonempty] -= ~worded[leading] & plain[nonempty]
    return _Block(lengths, ascii_only, plain, scripts, counts, starts, owners, worded)


def _block_cuts(offsets: np.ndarray, block_bytes: int) -> list[int]:
    """Text indices that cut the chunk into blocks of about ``block_bytes``."""
    marks = np.arange(0, int(offsets[-1]), block_bytes)
    cuts = np.searchsorted(offsets, marks, side="left")
    return sorted({0, *cuts.tolist(), offsets.shape[0] - 1})


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def scan_texts(texts: pa.Array, block_bytes: int = BLOCK_BYTES) -> Scanned:
    """Measure ``texts`` (a string or large_string array without nulls), about
    ``block_bytes`` of them at a time."""
    data, offsets, buffer = _bytes(texts)
    cuts = _block_cuts(offsets, block_bytes)
    blocks, bases = [], []
    for first, last in zip(cuts, cuts[1:], strict=False):
        base = int(offsets[first])
        block = _scan_block(data[base : offsets[last]], offsets[first : last + 1] - base)
        blocks.append(block)
        bases.append((base, first))
    starts = _joined([b.starts + base for b, (base, _) in zip(blocks, bases, strict=True)], int)
    ends = np.concatenate([starts, [data.shape[0]]]).astype(np.int64)
    if buffer is None:
        buffer = pa.py_buffer(b"")
    pieces = pa.Array.from_buffers(
        pa.large_string(), starts.shape[0], [None, pa.py_buffer(ends), buffer]
    )
    return Scanned(
        lengths=_joined([b.lengths for b in blocks], np.int64),
        ascii=_joined([b.ascii for b in blocks], bool),
        plain=_joined([b.plain for b in blocks], bool),
        scripts=_joined([b.scripts for b in blocks], np.int64),
        counts=_joined([b.counts for b in blocks], np.int64),
        pieces=pieces,
        owners=_joined(
            [b.owners + first for b, (_, first) in zip(blocks, bases, strict=True)], int
        ),
        worded=_joined([b.worded for b in blocks], bool),
    )


def leading_words(pieces: pa.Array) -> pa.Array:
    """The word each piece starts with, lower-cased (``large_string``): its leading run of
    ASCII word bytes, or its first character when that is not ASCII ("" when it starts with
    neither).

    For a word piece of a plain text (see :class:`Scanned`) this is its word; for other
    pieces the result is no word (their "words" are dropped, see
    :meth:`~lmops_evidently.columnar.Tokens.encode`).
    """
    data, offsets, _ = _bytes(pieces)
    size = offsets.shape[0] - 1
    nbytes = np.diff(offsets)
    firsts = offsets[:-1]
    _, word = _word_bytes(data)
    lead = np.zeros(size, dtype=np.uint8)
    nonempty = nbytes > 0
    lead[nonempty] = data[firsts[nonempty]]
    # The end of a leading run: the first byte that is no word byte, or the piece's end.
    stops = np.where(word, data.shape[0], np.arange(data.shape[0], dtype=np.int64))
    run = np.zeros(size, dtype=np.int64)
    if nonempty.any():
        run[nonempty] = np.minimum.reduceat(stops, firsts[nonempty]) - firsts[nonempty]
    run = np.minimum(run, nbytes)
    # A non-ASCII first character is taken whole: a CJK word in a word piece.
    width = 2 + (lead >= 0xE0).astype(np.int64) + (lead >= 0xF0)
    run = np.where(lead >= 0x80, np.minimum(nbytes, width), run)
    within = np.arange(data.shape[0], dtype=np.int64) - np.repeat(firsts, nbytes)
    kept = data[within < np.repeat(run, nbytes)]
    upper = (kept - ord("A")).astype(np.uint8) < 26
    lowered = kept | (upper.view(np.uint8) << 5)
    ends = np.concatenate([[0], np.cumsum(run)]).astype(np.int64)
    return pa.Array.from_buffers(
        pa.large_string(), size, [None, pa.py_buffer(ends), pa.py_buffer(lowered)]
    )
