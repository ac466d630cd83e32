"""Text descriptors of a whole Arrow column of texts at once.

The per-text functions of :mod:`lmops_evidently.text` define every descriptor;
this module gives the very same values for a chunk of texts without a Python
call per text where it can prove they agree:

* lengths, scripts and the words of plain texts (ASCII and CJK characters
  only, where lower-casing, ``\\w`` and the CJK ranges are simple byte rules)
  come from numpy passes over the chunk's bytes
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

from lmops_evidently.scan import Scanned, leading_words, scan_texts
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
    def encode(
        cls,
        scanned: Scanned,
        others: list[list[str]],
        other_rows: np.ndarray,
    ) -> Tokens:
        """Tokens of the scanned texts: the words of the plain ones from their pieces (see
        :class:`~lmops_evidently.scan.Scanned`), and ``others[k]``, the words of text
        ``other_rows[k]``, cut in Python.

        Only the distinct pieces are turned into words; Arrow then merges those words
        with Python's, so each word has one code whichever way it was cut.
        """
        pieces = pc.dictionary_encode(scanned.pieces)
        indices = np.asarray(pieces.indices.to_numpy(zero_copy_only=False))
        owners = scanned.owners
        every = bool(scanned.worded.all())
        if not every:  # drop the pieces that start with no word
            indices, owners = indices[scanned.worded], owners[scanned.worded]
        cut = pa.array([w for c in others for w in c], type=pa.large_string())
        leading = leading_words(pieces.dictionary)
        merged = pc.dictionary_encode(pa.concat_arrays([leading, cut]))
        merged_codes = np.asarray(merged.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        codes = merged_codes[: len(leading)].take(indices)
        counts = scanned.counts
        dictionary = merged.dictionary
        if len(cut):
            codes = np.concatenate([codes, merged_codes[len(leading) :]])
            owners = np.concatenate([owners, np.repeat(other_rows, [len(c) for c in others])])
            counts = counts.copy()
            counts[other_rows] = [len(c) for c in others]
        if not every:
            # Pieces that start with no word gave "words" nobody has: keep the used ones.
            used = np.bincount(codes, minlength=len(dictionary)) > 0
            if not used.all():
                codes = (np.cumsum(used) - 1)[codes]
                dictionary = dictionary.filter(pa.array(used))
        return cls(codes, dictionary.to_pylist(), owners, counts)

    def per_text(self, flags: np.ndarray) -> np.ndarray:
        """How many words of each text have ``flags[code]`` set (``flags``: one per unique)."""
        return np.bincount(self.owners[flags[self.codes]], minlength=self.counts.shape[0])


def _mask(array: pa.Array) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def refusal_anchored(texts: pa.Array) -> np.ndarray:
    """Per text (a missing one counts as empty), whether it holds one of the refusal
    :data:`~lmops_evidently.text.ANCHORS` (RE2, ignoring case): one Arrow call, which
    runs without the GIL."""
    return _mask(
        pc.match_substring_regex(pc.fill_null(texts, ""), _ANCHOR_PATTERN, ignore_case=True)
    )


def _python_rows(texts: pa.Array, rows: np.ndarray) -> list[str]:
    """The texts at ``rows`` as Python strings (nulls as "")."""
    return [t or "" for t in texts.take(pa.array(rows, type=pa.int64())).to_pylist()]


class TextColumn:
    """One chunk of one text field, with what every descriptor needs to know about it."""

    def __init__(self, texts: pa.Array, anchored: np.ndarray | None = None) -> None:
        """``anchored``: :func:`refusal_anchored` of ``texts``, if it was found already."""
        self.texts = texts
        self._anchored = anchored
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
        others = np.flatnonzero(~self.plain)
        cut = [words(text) for text in _python_rows(self.texts, others)] if len(others) else []
        return Tokens.encode(self._scanned, cut, others)

    def refusals(self) -> np.ndarray:
        """Per text, whether :func:`~lmops_evidently.text.is_refusal` holds."""
        anchored = self._anchored
        if anchored is None:
            anchored = refusal_anchored(self.filled)
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
