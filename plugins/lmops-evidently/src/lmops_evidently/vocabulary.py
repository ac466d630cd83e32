"""Vocabularies for the out-of-vocabulary (OOV) rate descriptor.

Two sources: the reference window itself, or a model's tokenizer.

A vocabulary built from the reference would give every reference row an OOV
rate of zero by construction (each of its words is in the vocabulary because
the row itself put it there), while an unseen current row from the very same
distribution would score higher: drift out of nothing. So the reference
vocabulary is *cross-fitted*: rows are split into two folds by ordinal
parity, each fold builds its own vocabulary, and every reference row is
scored against the other fold's vocabulary. Current rows alternate between
the two vocabularies, so both windows are scored against half the reference
that did not contain them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lmops_core.errors import ValidationError
from lmops_evidently.columnar import Tokens


def _rates(unknown: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-row OOV share from unknown-word counts; rows without words get 0.0."""
    rates: np.ndarray = np.divide(unknown, counts, out=np.zeros(counts.shape[0]), where=counts > 0)
    return rates


class ReferenceVocabulary:
    """A cross-fitted vocabulary of one text field, learnt from the reference window.

    Memory stays small on large windows: a word seen in both folds is known to
    every row, whichever fold the row is in, so only the occurrences of words
    seen in one fold so far are kept (as row and word id) until :meth:`freeze`
    decides them.
    """

    source = "reference"

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._in_fold = np.zeros((2, 1024), dtype=bool)
        self._counts: list[np.ndarray] = []
        self._pending_rows: list[np.ndarray] = []
        self._pending_ids: list[np.ndarray] = []
        self._frozen = False

    def _lookup(self, tokens: Tokens, grow: bool) -> np.ndarray:
        """Global ids of the chunk's distinct words (-1 for unknown ones when not growing)."""
        # Words come dictionary-encoded: only a chunk's distinct words meet the dict.
        lookup = np.empty(len(tokens.uniques), dtype=np.int64)
        for index, word in enumerate(tokens.uniques):
            known = self._ids.get(word)
            if known is None:
                if grow:
                    known = len(self._ids)
                    self._ids[word] = known
                else:
                    known = -1
            lookup[index] = known
        if grow and len(self._ids) > self._in_fold.shape[1]:
            grown = np.zeros((2, 2 * len(self._ids)), dtype=bool)
            grown[:, : self._in_fold.shape[1]] = self._in_fold
            self._in_fold = grown
        return lookup

    def add_reference(self, tokens: Tokens, ordinals: np.ndarray) -> None:
        """Learn a chunk of reference rows (their ordinals decide their fold)."""
        if self._frozen:
            raise RuntimeError("the reference vocabulary is already frozen")
        lookup = self._lookup(tokens, grow=True)
        rows = ordinals[tokens.owners]
        # Which folds hold each distinct word of the chunk, then of the whole window so far.
        size = len(lookup)
        present = np.bincount(tokens.codes * 2 + (rows & 1), minlength=2 * size) > 0
        self._in_fold[:, lookup] |= present.reshape(size, 2).T
        one_fold = ~(self._in_fold[0, lookup] & self._in_fold[1, lookup])
        pending = one_fold[tokens.codes]
        self._pending_rows.append(rows[pending])
        self._pending_ids.append(lookup[tokens.codes[pending]])
        self._counts.append(tokens.counts)

    def freeze(self) -> np.ndarray:
        """Fix both fold vocabularies; return the reference rows' OOV rates, in order."""
        self._frozen = True
        counts = np.concatenate(self._counts) if self._counts else np.zeros(0, np.int64)
        rows = np.concatenate(self._pending_rows) if self._pending_rows else np.zeros(0, np.int64)
        ids = np.concatenate(self._pending_ids) if self._pending_ids else np.zeros(0, np.int64)
        # Each reference word is judged by the vocabulary of the other fold.
        unknown = ~self._in_fold[1 - (rows & 1), ids]
        self._counts, self._pending_rows, self._pending_ids = [], [], []
        return _rates(np.bincount(rows[unknown], minlength=counts.shape[0]), counts)

    def oov_rates(self, tokens: Tokens, ordinals: np.ndarray) -> np.ndarray:
        """OOV rates of current rows, each against the fold vocabulary its parity picks."""
        if not self._frozen:
            raise RuntimeError("freeze() the reference vocabulary before scoring rows")
        lookup = self._lookup(tokens, grow=False)
        # Per distinct word and fold: unknown? (words the reference never saw: in neither)
        unknown = ~(self._in_fold[:, np.maximum(lookup, 0)] & (lookup >= 0)).T.reshape(-1)
        folds = ordinals[tokens.owners] & 1
        per_row = np.bincount(
            tokens.owners[unknown[tokens.codes * 2 + folds]], minlength=len(ordinals)
        )
        return _rates(per_row, tokens.counts)


class TokenizerVocabulary:
    """Whole words a model's tokenizer holds as single tokens (case-folded)."""

    source = "tokenizer"

    def __init__(self, words: frozenset[str]) -> None:
        self.words = words

    @classmethod
    def from_model_folder(cls, folder: Path) -> TokenizerVocabulary | None:
        """Read ``tokenizer.json`` of a Hugging Face model folder; None if it has none."""
        path = folder / "tokenizer.json"
        if not path.is_file():
            return None
        from tokenizers import Tokenizer  # imported late: only needed with a model role

        try:
            vocab = Tokenizer.from_file(str(path)).get_vocab()
        except Exception as exc:  # tokenizers raises a bare Exception on malformed files
            raise ValidationError(
                f"{path}: not a readable tokenizer ({exc})", file=str(path)
            ) from exc
        words: set[str] = set()
        for token in vocab:
            if token.startswith("##"):  # a WordPiece continuation is never a whole word
                continue
            # Word-start markers of byte-level BPE (Ġ) and SentencePiece (▁).
            word = token.removeprefix("Ġ").removeprefix("▁").lower()
            if word:
                words.add(word)
        return cls(frozenset(words))

    def oov_rates(self, tokens: Tokens, ordinals: np.ndarray) -> np.ndarray:
        """Per-row share of words that are not a single token of the tokenizer."""
        unknown = np.fromiter(
            (w not in self.words for w in tokens.uniques), dtype=bool, count=len(tokens.uniques)
        )
        return _rates(tokens.per_text(unknown), tokens.counts)
