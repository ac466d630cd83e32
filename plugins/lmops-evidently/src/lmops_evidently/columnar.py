"""Text descriptors of a whole Arrow column of texts at once.

The per-text functions of :mod:`lmops_evidently.text` define every descriptor;
this module gives the very same values for a chunk of texts without a Python
call per text where it can prove they agree:

* lengths are Arrow's code point counts (what ``len`` counts); the script of
  an ASCII text is "latin" if it has a letter, else "none", and other texts
  go through :func:`~lmops_evidently.text.script_counts`;
* words are cut by RE2 in Arrow for texts made only of ASCII and CJK
  characters, where lower-casing, ``\\w`` and the CJK ranges mean the same in
  Python and in RE2; any other text goes through :func:`~lmops_evidently.text.words`;
* a refusal is looked for with Python's pattern only in texts that contain one
  of its anchors (RE2, ignoring case) or that are not plain ASCII/CJK.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lmops_evidently.text import ANCHORS, CJK_CLASS, SCRIPTS, is_refusal, script_counts, words

_RE2_CJK = re.sub(r"[^\x00-\x7f]", lambda m: f"\\x{{{ord(m.group()):04x}}}", CJK_CLASS)
_PLAIN = f"^[\\x00-\\x7f{_RE2_CJK}]*$"
"""Texts whose words RE2 cuts exactly as Python's pattern does."""
_SEPARATORS = f"[^0-9a-z_ {_RE2_CJK}]+"
_ONE_CJK = f"([{_RE2_CJK}])"
# The anchors are words, spaces and CJK characters: no regex syntax to escape.
_ANCHOR_PATTERN = "|".join(ANCHORS)


@dataclass(frozen=True)
class Tokens:
    """The words of a chunk of texts.

    ``codes[k]`` is word ``k``'s index into ``uniques`` and ``owners[k]`` the
    index of the text it belongs to (words of one text keep their order, texts
    may come in any order); ``counts[i]`` is how many words text ``i`` has.
    """

    codes: np.ndarray
    uniques: list[str]
    owners: np.ndarray
    counts: np.ndarray

    @classmethod
    def encode(cls, parts: list[tuple[pa.Array, np.ndarray]], size: int) -> Tokens:
        """Tokens of ``size`` texts from ``(words, owners)`` parts of one string type.

        A part's words may include empty strings (cutting leaves them between two
        separators): they are no words, and are dropped here, once encoded, rather
        than filtered out of the strings beforehand.
        """
        encoded = pc.dictionary_encode(pa.chunked_array([words for words, _ in parts]))
        chunks = encoded.chunks
        codes = np.concatenate(
            [np.asarray(c.indices.to_numpy(zero_copy_only=False)) for c in chunks]
            or [np.zeros(0, dtype=np.int32)]
        )
        owners = np.concatenate([rows for _, rows in parts])
        # Every chunk of a dictionary-encoded chunked array shares the final dictionary.
        uniques: list[str] = chunks[-1].dictionary.to_pylist() if chunks else []
        if "" in uniques:
            empty = uniques.index("")
            kept = codes != empty
            codes, owners = codes[kept], owners[kept]
            codes[codes > empty] -= 1
            del uniques[empty]
        counts = np.bincount(owners, minlength=size).astype(np.int64)
        return cls(codes, uniques, owners, counts)

    def per_text(self, flags: np.ndarray) -> np.ndarray:
        """How many words of each text have ``flags[code]`` set (``flags``: one per unique)."""
        return np.bincount(self.owners[flags[self.codes]], minlength=self.counts.shape[0])


def _mask(array: pa.Array) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def _plain_words(texts: pa.Array, rows: np.ndarray, cjk: bool) -> tuple[pa.Array, np.ndarray]:
    """The words of the texts at ``rows`` (a mask) cut by RE2, with their texts' indices.

    Valid for plain texts (ASCII and CJK characters) only; ``cjk`` says whether
    some of them hold CJK characters, each of which is a word of its own. Empty
    strings come along (see :meth:`Tokens.encode`).
    """
    picked = None
    if not rows.all():
        # Only the texts cut here are copied (CJK ones are usually a few).
        picked = np.flatnonzero(rows)
        texts = texts.take(pa.array(picked, type=pa.int64()))
    lowered = pc.ascii_lower(texts)
    if cjk:
        lowered = pc.replace_substring_regex(lowered, _ONE_CJK, " \\1 ")
    # Separators other than spaces become spaces (RE2's split by pattern is slower).
    pieces = pc.split_pattern(pc.replace_substring_regex(lowered, _SEPARATORS, " "), " ")
    owners = np.asarray(pc.list_parent_indices(pieces).to_numpy(zero_copy_only=False))
    return pc.list_flatten(pieces), owners if picked is None else picked[owners]


def _python_rows(texts: pa.Array, rows: np.ndarray) -> list[str]:
    """The texts at ``rows`` as Python strings (nulls as "")."""
    return [t or "" for t in texts.take(pa.array(rows, type=pa.int64())).to_pylist()]


class TextColumn:
    """One chunk of one text field, with what every descriptor needs to know about it."""

    def __init__(self, texts: pa.Array) -> None:
        self.texts = texts
        self.missing = _mask(texts.is_null())
        self.filled = pc.fill_null(texts, "")
        self.ascii = _mask(pc.string_is_ascii(self.filled))
        # ASCII texts are plain; RE2 looks at the others only.
        self.plain = self.ascii.copy()
        if len(others := np.flatnonzero(~self.ascii)):
            picked = self.filled.take(pa.array(others, type=pa.int64()))
            self.plain[others] = _mask(pc.match_substring_regex(picked, _PLAIN))

    def lengths(self) -> np.ndarray:
        """Characters (code points) per text, as ``len`` counts them."""
        return np.asarray(pc.utf8_length(self.filled).to_numpy(zero_copy_only=False))

    def tokens(self) -> Tokens:
        """Every text's words, as :func:`~lmops_evidently.text.words` cuts them."""
        parts = []
        if self.ascii.any():
            parts.append(_plain_words(self.filled, self.ascii, cjk=False))
        if (cjk_rows := self.plain & ~self.ascii).any():
            parts.append(_plain_words(self.filled, cjk_rows, cjk=True))
        if len(others := np.flatnonzero(~self.plain)):
            cut = [words(text) for text in _python_rows(self.texts, others)]
            flat = pa.array([w for c in cut for w in c], type=self.filled.type)
            parts.append((flat, np.repeat(others, [len(c) for c in cut])))
        if not parts:
            parts.append((pa.array([], type=self.filled.type), np.zeros(0, dtype=np.int64)))
        return Tokens.encode(parts, len(self.texts))

    def refusals(self) -> np.ndarray:
        """Per text, whether :func:`~lmops_evidently.text.is_refusal` holds."""
        anchored = _mask(pc.match_substring_regex(self.filled, _ANCHOR_PATTERN, ignore_case=True))
        # Outside plain ASCII/CJK, Python's lower() may differ from RE2's case folding.
        rows = np.flatnonzero(anchored | ~self.plain)
        flags = np.zeros(len(self.texts), dtype=bool)
        flags[rows] = [is_refusal(text) for text in _python_rows(self.texts, rows)]
        return flags

    def scripts(self) -> np.ndarray:
        """Per text, its dominant script's index in :data:`~lmops_evidently.text.SCRIPT_LABELS`."""
        ascii_only = self.ascii
        # In ASCII, the letters are A-Z and a-z, all of them Latin.
        latin = _mask(pc.match_substring_regex(self.filled, "[A-Za-z]"))
        codes = np.where(latin, SCRIPTS.index("latin"), len(SCRIPTS))
        others = np.flatnonzero(~ascii_only)
        if len(others):
            texts = _python_rows(self.texts, others)
            lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
            points = np.frombuffer("".join(texts).encode("utf-32-le"), dtype="<u4")
            codes[others] = script_counts(points, lengths)
        return codes
