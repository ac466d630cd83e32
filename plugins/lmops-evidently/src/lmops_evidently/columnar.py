"""Text descriptors of a whole Arrow column of texts at once.

The per-text functions of :mod:`lmops_evidently.text` define every descriptor;
this module gives the very same values for a chunk of texts without a Python
call per text where it can prove they agree:

* lengths, scripts and the words of plain texts (ASCII and CJK characters
  only, where lower-casing, ``\\w`` and the CJK ranges are simple byte rules)
  come from one compiled pass over the chunk's bytes
  (:func:`~lmops_evidently.scan.scan_texts`); the words of any other text come
  from :func:`~lmops_evidently.text.words`;
* a refusal is looked for with Python's pattern only in texts that contain one
  of its anchors (RE2, ignoring case) or that are not plain ASCII/CJK.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lmops_evidently.scan import scan_texts
from lmops_evidently.text import ANCHORS, is_refusal, words

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


def _python_rows(texts: pa.Array, rows: np.ndarray) -> list[str]:
    """The texts at ``rows`` as Python strings (nulls as "")."""
    return [t or "" for t in texts.take(pa.array(rows, type=pa.int64())).to_pylist()]


class TextColumn:
    """One chunk of one text field, with what every descriptor needs to know about it."""

    def __init__(self, texts: pa.Array) -> None:
        self.texts = texts
        self.missing = _mask(texts.is_null())
        self.filled = pc.fill_null(texts, "")
        self._scanned = scan_texts(self.filled)
        self.ascii = self._scanned.ascii
        self.plain = self._scanned.plain

    def lengths(self) -> np.ndarray:
        """Characters (code points) per text, as ``len`` counts them."""
        return self._scanned.lengths

    def tokens(self) -> Tokens:
        """Every text's words, as :func:`~lmops_evidently.text.words` cuts them."""
        scanned = self._scanned
        size = len(self.texts)
        parts = [(scanned.words, np.repeat(np.arange(size, dtype=np.int64), scanned.counts))]
        if len(others := np.flatnonzero(~self.plain)):
            cut = [words(text) for text in _python_rows(self.texts, others)]
            flat = pa.array([w for c in cut for w in c], type=pa.large_string())
            parts.append((flat, np.repeat(others, [len(c) for c in cut])))
        return Tokens.encode(parts, size)

    def refusals(self) -> np.ndarray:
        """Per text, whether :func:`~lmops_evidently.text.is_refusal` holds."""
        anchored = _mask(pc.match_substring_regex(self.filled, _ANCHOR_PATTERN, ignore_case=True))
        # Outside plain ASCII/CJK, Python's lower() may differ from RE2's case folding.
        rows = np.flatnonzero(anchored | ~self.plain)
        flags = np.zeros(len(self.texts), dtype=bool)
        if not len(rows):
            return flags
        # Refusals are mostly canned replies: each distinct text is matched once.
        distinct = pc.dictionary_encode(self.filled.take(pa.array(rows, type=pa.int64())))
        found = np.array([is_refusal(text) for text in distinct.dictionary.to_pylist()], bool)
        flags[rows] = found[np.asarray(distinct.indices.to_numpy(zero_copy_only=False))]
        return flags

    def scripts(self) -> np.ndarray:
        """Per text, its dominant script's index in :data:`~lmops_evidently.text.SCRIPT_LABELS`."""
        return self._scanned.scripts
