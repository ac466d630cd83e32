"""Text descriptors of a whole Arrow column of texts at once.

The per-text functions of :mod:`lmops_evidently.text` define every descriptor;
this module gives the very same values for a chunk of texts without a Python
call per text where it can prove they agree:

* lengths, scripts and the words of plain texts (ASCII and CJK characters
  only, where lower-casing, ``\\w`` and the CJK ranges are simple byte rules)
  come from one compiled pass over the chunk's bytes
  (:func:`~lmops_evidently.scan.scan_texts`); the words of any other text come
  from :func:`~lmops_evidently.text.words`;
* a refusal is looked for with Python's pattern only in texts that are not
  plain ASCII/CJK or that have a word one of its anchors implies (see
  :func:`anchor_words`): the chunk's distinct words are matched, not its texts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lmops_evidently.scan import scan_texts
from lmops_evidently.text import ANCHORS, WORD_PATTERN, is_refusal, words


def anchor_words(anchors: tuple[str, ...]) -> re.Pattern[str]:
    """What some word of a text matches whenever one of ``anchors`` occurs in it (lower-cased).

    Per anchor, its longest word as :data:`~lmops_evidently.text.WORD_PATTERN` cuts it
    (the first of equals): where the anchor has more before that word, the text's word
    starts there (``^``); where it has more after it, the text's word ends there (``$``);
    at the anchor's edges the text's word may run on. "i can" asks for a word starting
    with "can", "sorry" for a word containing "sorry", "抱歉" for "歉".
    """
    parts = []
    for anchor in anchors:
        word = max(WORD_PATTERN.finditer(anchor), key=lambda found: len(found.group()))
        starts = "^" if word.start() > 0 else ""
        ends = "$" if word.end() < len(anchor) else ""
        parts.append(f"{starts}{re.escape(word.group())}{ends}")
    return re.compile("|".join(parts))


_ANCHOR_WORDS = anchor_words(ANCHORS)


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
    def from_parts(
        cls,
        codes: np.ndarray,
        distinct: list[str],
        owners: np.ndarray,
        cut: dict[int, list[str]],
        size: int,
    ) -> Tokens:
        """Tokens of ``size`` texts: the dictionary-encoded words of the scanned texts
        (``codes`` into ``distinct``, each owned by ``owners``), then the words of the texts
        Python cut (``cut``: text index -> its words), encoded into the same dictionary."""
        if cut:
            index = {word: code for code, word in enumerate(distinct)}
            more = [index.setdefault(w, len(index)) for text in cut.values() for w in text]
            distinct = list(index)
            codes = np.concatenate([codes, np.asarray(more, dtype=codes.dtype)])
            lengths = [len(text) for text in cut.values()]
            owners = np.concatenate([owners, np.repeat(np.fromiter(cut, np.int64), lengths)])
        counts = np.bincount(owners, minlength=size).astype(np.int64)
        return cls(codes, distinct, owners, counts)

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
        self._tokens: Tokens | None = None

    def lengths(self) -> np.ndarray:
        """Characters (code points) per text, as ``len`` counts them."""
        return self._scanned.lengths

    def tokens(self) -> Tokens:
        """Every text's words, as :func:`~lmops_evidently.text.words` cuts them."""
        if self._tokens is None:
            self._tokens = self._cut()
        return self._tokens

    def _cut(self) -> Tokens:
        scanned = self._scanned
        size = len(self.texts)
        owners = np.repeat(np.arange(size, dtype=np.int64), scanned.counts)
        others = np.flatnonzero(~self.plain)
        cut = {
            int(row): words(text)
            for row, text in zip(others, _python_rows(self.texts, others), strict=True)
        }
        return Tokens.from_parts(scanned.codes, scanned.distinct.to_pylist(), owners, cut, size)

    def refusals(self) -> np.ndarray:
        """Per text, whether :func:`~lmops_evidently.text.is_refusal` holds."""
        tokens = self.tokens()
        marked = np.fromiter(
            (_ANCHOR_WORDS.search(word) is not None for word in tokens.uniques),
            dtype=bool,
            count=len(tokens.uniques),
        )
        # Outside plain ASCII/CJK, Python's lower() may cut other words than the scan.
        candidates = ~self.plain
        if marked.any():
            candidates[tokens.owners[marked[tokens.codes]]] = True
        rows = np.flatnonzero(candidates)
        flags = np.zeros(len(self.texts), dtype=bool)
        flags[rows] = [is_refusal(text) for text in _python_rows(self.texts, rows)]
        return flags

    def scripts(self) -> np.ndarray:
        """Per text, its dominant script's index in :data:`~lmops_evidently.text.SCRIPT_LABELS`."""
        return self._scanned.scripts
