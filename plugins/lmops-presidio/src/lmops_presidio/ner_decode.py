"""spaCy's greedy NER decode, run as a compiled loop of our own.

spaCy 3.8's transition loop (``Parser.greedy_parse``) takes the GIL back each time
it reads a parser state's buffer (``StateC::B`` calls ``PyGILState_Ensure``). On
the English views of the bilingual benchmark's texts, the GIL calls were 44-57% of
the samples of the NER's ``predict``. This module gives the same entities without
that loop:

* the NER's own layers run through thinc exactly as spaCy runs them: its embedding
  chain (``tok2vec``, ending in the linear layer to the hidden width) over the
  batch, then the ``lower`` layer precomputing, for every token and each of the
  three state features, its share of the hidden layer (a first row holds the
  padding used for an absent feature);
* then, per document and token by token, :func:`_decode` builds the state's three
  features as spaCy's ``StateC.set_context_tokens`` does (the next token, the open
  entity's first token, the token before the next one while an entity is open),
  sums their rows in the same order, adds the bias, takes the maxout, scores every
  action (the ``upper`` layer) and applies the best valid one under the BILUO rules
  of spaCy's ``BiluoPushDown`` for a document without preset entities.

The float32 sums are those of spaCy's loop, except the last layer's dot products,
which spaCy runs through BLIS: a different summation order can change the last bit
of a score, so two actions within rounding of each other could be ordered
differently. ``tests/test_presidio_ner_decode.py`` checks that the entities equal
spaCy's on every text of the labelled bilingual set and each of its sentences as the
English NER reads them, on edge cases, and on 1,500 random word sequences (7,865
entities in all); ``benchmarks/bench_presidio.py`` printed the same precision
and recall with the decoder as without it, on each of its workloads.

:func:`ner_decoder` returns None, and spaCy's own loop runs, for any pipeline it
cannot reproduce by construction: components besides ``ner``, an NER listening to
a shared embedding layer, a beam, a hidden layer that is not maxout or features
other than three, an unseen class, or an action outside ``B``/``I``/``L``/``U``/``O``.
:meth:`NerDecoder.annotate` likewise leaves to spaCy any document holding preset
entity annotations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numba
import numpy as np
import numpy.typing as npt
from spacy.language import Language
from spacy.tokens import Doc, Span

# spaCy's move codes (``spacy/pipeline/_parser_internals/ner.pyx``), as the class names'
# prefixes give them.
MISSING, BEGIN, IN, LAST, UNIT, OUT = range(6)
_PREFIXES = {"B": BEGIN, "I": IN, "L": LAST, "U": UNIT, "O": OUT}
_FEATURES = 3
"""State features of spaCy's NER models (``nr_feature_tokens``)."""


def _decode(
    table: Any,
    bias: Any,
    weights: Any,
    out_bias: Any,
    moves: Any,
    labels: Any,
    starts: Any,
    lengths: Any,
    is_space: Any,
    sent_start: Any,
    found: Any,
    counts: Any,
) -> None:
    # table (tokens + 1, 3, hidden * pieces): row 0 is the padding; token t's rows are t + 1.
    # found[starts[d] + k] = (start, end, class) of document d's k-th entity.
    features = table.shape[1]
    width = table.shape[2]
    hidden_n = weights.shape[1]
    pieces = width // hidden_n
    classes = weights.shape[0]
    unmaxed = np.empty(width, dtype=np.float32)
    hidden = np.empty(hidden_n, dtype=np.float32)
    ids = np.empty(features, dtype=np.int64)
    for doc in range(starts.shape[0]):
        offset = starts[doc]
        n = lengths[doc]
        count = 0
        i = 0
        open_start = -1
        open_label = 0
        while i < n:
            ids[0] = offset + i
            if open_start >= 0:
                ids[1] = offset + open_start
                ids[2] = offset + i - 1
            else:
                ids[1] = -1
                ids[2] = -1
            for u in range(width):
                unmaxed[u] = 0.0
            for f in range(features):
                row = ids[f] + 1 if ids[f] >= 0 else 0
                for u in range(width):
                    unmaxed[u] += table[row, f, u]
            for u in range(width):
                unmaxed[u] += bias[u]
            for j in range(hidden_n):
                best = unmaxed[j * pieces]
                for p in range(1, pieces):
                    if unmaxed[j * pieces + p] > best:
                        best = unmaxed[j * pieces + p]
                hidden[j] = best
            left = n - i
            space = is_space[offset + i]
            next_starts = left >= 2 and sent_start[offset + i + 1] == 1
            chosen = -1
            chosen_score = np.float32(0.0)
            for c in range(classes):
                move = moves[c]
                label = labels[c]
                if move == BEGIN:
                    valid = open_start < 0 and left >= 2 and label != 0
                    valid = valid and not next_starts and not space
                elif move == IN:
                    valid = open_start >= 0 and left >= 2 and label != 0
                    valid = valid and open_label == label and not next_starts
                elif move == LAST:
                    valid = label != 0 and open_start >= 0 and open_label == label
                elif move == UNIT:
                    valid = label != 0 and open_start < 0 and not space
                elif move == OUT:
                    valid = open_start < 0
                else:
                    valid = False
                if not valid:
                    continue
                score = np.float32(0.0)
                for k in range(hidden_n):
                    score += hidden[k] * weights[c, k]
                score += out_bias[c]
                if chosen == -1 or score > chosen_score:
                    chosen = c
                    chosen_score = score
            if chosen == -1:
                break  # spaCy forces the state final; an open entity is dropped
            move = moves[chosen]
            if move == BEGIN:
                open_start = i
                open_label = labels[chosen]
            elif move == LAST:
                found[offset + count, 0] = open_start
                found[offset + count, 1] = i + 1
                found[offset + count, 2] = chosen
                count += 1
                open_start = -1
                open_label = 0
            elif move == UNIT:
                found[offset + count, 0] = i
                found[offset + count, 1] = i + 1
                found[offset + count, 2] = chosen
                count += 1
            i += 1
        counts[doc] = count


@lru_cache(maxsize=1)
def _compiled() -> Any:
    """:func:`_decode` compiled (from numba's on-disk cache when one can be kept)."""
    try:
        return numba.njit(cache=True, nogil=True)(_decode)
    except RuntimeError:  # no writable cache location: compile in memory
        return numba.njit(nogil=True)(_decode)


@dataclass(frozen=True)
class NerDecoder:
    """The NER of a NER-only pipeline, decoded by :func:`_decode`."""

    tok2vec: Any
    lower: Any
    upper: Any
    moves: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int64]
    label_names: tuple[str, ...]
    """Entity label of each class (``""`` for ``O``)."""

    def annotate(self, docs: Sequence[Doc]) -> list[Doc]:
        """Set each document's entities as spaCy's NER would; the documents holding
        preset entity annotations are returned for spaCy to handle."""
        ours_nonempty: list[Doc] = []  # an empty document has no entity to set
        rest: list[Doc] = []
        for doc in docs:
            if doc.to_array("ENT_IOB").any():
                rest.append(doc)
            elif len(doc):
                ours_nonempty.append(doc)
        if not ours_nonempty:
            return rest
        tokvecs = self.tok2vec.predict(ours_nonempty)
        table = np.ascontiguousarray(self.lower.predict(tokvecs), dtype=np.float32)
        table = table.reshape(table.shape[0], table.shape[1], -1)
        bias = np.ascontiguousarray(self.lower.get_param("b"), dtype=np.float32).reshape(-1)
        lengths = np.array([len(doc) for doc in ours_nonempty], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        # The raw fields spaCy's rules read: IS_SPACE, and SENT_START (1, -1 or 0 unset).
        is_space = np.concatenate([doc.to_array("IS_SPACE") for doc in ours_nonempty]) != 0
        sent_start = np.concatenate(
            [doc.to_array("SENT_START").astype(np.int64) for doc in ours_nonempty]
        )
        total = int(lengths.sum())
        found = np.zeros((total, 3), dtype=np.int64)
        counts = np.zeros(len(ours_nonempty), dtype=np.int64)
        _compiled()(
            table,
            bias,
            np.ascontiguousarray(self.upper.get_param("W"), dtype=np.float32),
            np.ascontiguousarray(self.upper.get_param("b"), dtype=np.float32),
            self.moves,
            self.labels,
            starts,
            lengths,
            is_space,
            sent_start,
            found,
            counts,
        )
        for index, doc in enumerate(ours_nonempty):
            first = int(starts[index])
            doc.ents = [
                Span(doc, int(start), int(end), label=self.label_names[int(chosen)])
                for start, end, chosen in found[first : first + int(counts[index])]
            ]
        return rest


def ner_decoder(nlp: Language) -> NerDecoder | None:
    """A :class:`NerDecoder` for ``nlp``'s NER, or None where spaCy's own loop must run."""
    if nlp.pipe_names != ["ner"]:
        return None
    ner = nlp.get_pipe("ner")
    model = ner.model
    if ner.cfg.get("beam_width", 1) != 1 or not model.attrs.get("has_upper", False):
        return None
    if model.attrs.get("unseen_classes"):
        return None
    try:
        tok2vec, lower, upper = model.layers[0], model.get_ref("lower"), model.get_ref("upper")
    except (KeyError, IndexError):
        return None
    if "listener" in tok2vec.name or "Listener" in type(tok2vec).__name__:
        return None
    if not lower.has_dim("nP") or lower.get_dim("nP") < 2 or lower.get_dim("nF") != _FEATURES:
        return None
    moves: list[int] = []
    names: list[str] = []
    for index in range(ner.moves.n_moves):
        prefix, _, label = ner.moves.get_class_name(index).partition("-")
        if prefix not in _PREFIXES:
            return None
        moves.append(_PREFIXES[prefix])
        names.append(label)
    label_ids = {name: number for number, name in enumerate(sorted(set(names) - {""}), 1)}
    return NerDecoder(
        tok2vec=tok2vec,
        lower=lower,
        upper=upper,
        moves=np.array(moves, dtype=np.int64),
        labels=np.array([label_ids.get(name, 0) for name in names], dtype=np.int64),
        label_names=tuple(names),
    )
