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


def _rates(oov_per_token: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-row OOV share; rows without words get 0.0 (nothing unknown in them)."""
    rows = np.repeat(np.arange(counts.shape[0]), counts)
    unknown = np.bincount(rows, weights=oov_per_token, minlength=counts.shape[0])
    rates: np.ndarray = np.divide(unknown, counts, out=np.zeros(counts.shape[0]), where=counts > 0)
    return rates


class ReferenceVocabulary:
    """A cross-fitted vocabulary of one text field, learnt from the reference window."""

    source = "reference"

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._ref_ids: list[np.ndarray] = []
        self._ref_counts: list[np.ndarray] = []
        self._ref_folds: list[np.ndarray] = []
        self._in_fold: tuple[np.ndarray, np.ndarray] | None = None

    def _encode(self, tokens: Tokens, grow: bool) -> np.ndarray:
        """Global ids of the chunk's words (-1 for unknown ones when not growing)."""
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
        encoded: np.ndarray = lookup[tokens.codes]
        return encoded

    def add_reference(self, tokens: Tokens, ordinals: np.ndarray) -> None:
        """Remember a chunk of reference rows (their ordinals decide their fold)."""
        if self._in_fold is not None:
            raise RuntimeError("the reference vocabulary is already frozen")
        self._ref_ids.append(self._encode(tokens, grow=True))
        self._ref_counts.append(tokens.counts)
        self._ref_folds.append((ordinals % 2).astype(np.int64))

    def freeze(self) -> np.ndarray:
        """Build both fold vocabularies; return the reference rows' OOV rates, in order."""
        ids = np.concatenate(self._ref_ids) if self._ref_ids else np.zeros(0, np.int64)
        counts = np.concatenate(self._ref_counts) if self._ref_counts else np.zeros(0, np.int64)
        folds = np.concatenate(self._ref_folds) if self._ref_folds else np.zeros(0, np.int64)
        token_folds = np.repeat(folds, counts)
        size = len(self._ids)
        fold0 = np.bincount(ids[token_folds == 0], minlength=size) > 0
        fold1 = np.bincount(ids[token_folds == 1], minlength=size) > 0
        self._in_fold = (fold0, fold1)
        # Each reference token is judged by the vocabulary of the other fold.
        other_has = np.where(token_folds == 0, fold1[ids], fold0[ids])
        self._ref_ids, self._ref_counts, self._ref_folds = [], [], []
        return _rates((~other_has).astype(np.float64), counts)

    def oov_rates(self, tokens: Tokens, ordinals: np.ndarray) -> np.ndarray:
        """OOV rates of current rows, each against the fold vocabulary its parity picks."""
        if self._in_fold is None:
            raise RuntimeError("freeze() the reference vocabulary before scoring rows")
        ids = self._encode(tokens, grow=False)
        token_folds = np.repeat((ordinals % 2).astype(np.int64), tokens.counts)
        safe = np.maximum(ids, 0)
        known = np.where(token_folds == 0, self._in_fold[0][safe], self._in_fold[1][safe])
        known &= ids >= 0
        return _rates((~known).astype(np.float64), tokens.counts)


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
        return _rates(unknown[tokens.codes].astype(np.float64), tokens.counts)
