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
    """The words of a chunk of texts: each word's code into ``uniques``, and counts per text."""

    codes: np.ndarray
    uniques: list[str]
    counts: np.ndarray

    @classmethod
    def encode(cls, flat: pa.Array, counts: np.ndarray) -> Tokens:
        """Tokens from all words in one string column, ``counts[i]`` of them text ``i``'s."""
        encoded = pc.dictionary_encode(flat)
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        return cls(codes, encoded.dictionary.to_pylist(), counts)


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
        self.plain = _mask(pc.match_substring_regex(self.filled, _PLAIN))

    def lengths(self) -> np.ndarray:
        """Characters (code points) per text, as ``len`` counts them."""
        return np.asarray(pc.utf8_length(self.filled).to_numpy(zero_copy_only=False))

    def tokens(self) -> Tokens:
        """Every text's words, as :func:`~lmops_evidently.text.words` cuts them."""
        lowered = pc.ascii_lower(pc.if_else(pa.array(self.plain), self.filled, ""))
        # Separators other than spaces become spaces; each CJK character stands alone.
        spaced = pc.replace_substring_regex(
            pc.replace_substring_regex(lowered, _SEPARATORS, " "), _ONE_CJK, " \\1 "
        )
        pieces = pc.split_pattern(spaced, " ")
        flat = pc.list_flatten(pieces)
        owners = np.asarray(pc.list_parent_indices(pieces).to_numpy(zero_copy_only=False))
        kept = _mask(pc.greater(pc.binary_length(flat), 0))
        flat, owners = flat.filter(pa.array(kept)), owners[kept]
        others = np.flatnonzero(~self.plain)
        if len(others):
            cut = [words(text) for text in _python_rows(self.texts, others)]
            extra = np.repeat(others, [len(c) for c in cut])
            flat = pa.concat_arrays([flat, pa.array([w for c in cut for w in c], flat.type)])
            owners = np.concatenate([owners, extra])
            # Words stay grouped by text, in the texts' order, as per-text cutting gives them.
            order = np.argsort(owners, kind="stable")
            flat, owners = flat.take(pa.array(order)), owners[order]
        counts = np.bincount(owners, minlength=len(self.texts)).astype(np.int64)
        return Tokens.encode(flat, counts)

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
        ascii_only = _mask(pc.string_is_ascii(self.filled))
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
