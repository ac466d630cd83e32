"""Token attributions for a causal LM's answer, computed by SHAP over the prompt's tokens.

The model is any :class:`~lmops_core.runtimes.ScoringModel` (a runtime with
the ``"score"`` capability). For each prompt the model first answers greedily. The quantity explained is
then ``log p(answer | prompt)``: the summed log-probability of exactly those
answer tokens. SHAP's text masker hides subsets of the prompt's tokens
(replacing runs of them with ``...``), the model scores the same answer after
each masked prompt, and the explainer turns those scores into one value per
prompt token: positive means the token made the answer more likely.

When the tokenizer has a chat template the (masked) prompt is placed in it as
the user turn, exactly as the model saw it when answering; the template itself
is never masked.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lmops_core.runtimes import ScoringModel

ALGORITHMS = ("partition", "permutation")
"""SHAP explainers offered: partition (deterministic, hierarchical) or permutation (seeded)."""


def seed_numba(seed: int) -> None:
    """Seed numba's random generator, which numpy's ``np.random.seed`` does not reach."""
    global _numba_seeder
    if _numba_seeder is None:
        from numba import njit

        @njit(cache=False)
        def _seed(value: int) -> None:
            np.random.seed(value)

        _numba_seeder = _seed
    _numba_seeder(seed)


_numba_seeder: Any = None


class SegmentTokenizer:
    """The model's tokenizer, with character spans that never overlap, for shap's text masker.

    Byte-level BPE tokenizers (GPT-2, Llama 3, Qwen) split a Chinese character
    across tokens, and the fast tokenizer then reports overlapping character
    spans for neighbouring tokens. shap's masker cuts the prompt into one
    segment per token from those spans, so overlaps would duplicate
    characters ("哪哪里里") and the "unmasked" prompt would not be the prompt.
    Here each span starts where the previous one ended: a character shared by
    two tokens belongs to the first, the second's segment may be empty.
    Everything else is the wrapped tokenizer's.
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer

    def __call__(self, text: Any, *args: Any, **kwargs: Any) -> Any:
        """Tokenize like the wrapped tokenizer, with :func:`non_overlapping` offsets."""
        encoded = self._tokenizer(text, *args, **kwargs)
        offsets = encoded.get("offset_mapping") if hasattr(encoded, "get") else None
        if offsets is not None and isinstance(text, str):
            encoded["offset_mapping"] = non_overlapping(offsets)
        return encoded

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)


def non_overlapping(offsets: Sequence[Any]) -> list[tuple[int, int]]:
    """Character spans moved so that each starts at or after the end of the one before."""
    spans: list[tuple[int, int]] = []
    reached = 0
    for span in offsets:
        start, end = (0, 0) if span is None else (int(span[0]), int(span[1]))
        start = max(start, reached)
        end = max(end, start)
        spans.append((start, end))
        reached = end
    return spans


def normalise_whitespace(text: str) -> str:
    """Runs of whitespace as one space, trimmed: how shap's text masker rebuilds prompts."""
    return _WHITESPACE.sub(" ", text).strip()


_WHITESPACE = re.compile(r"\s+")


def prompt_ids(tokenizer: Any, text: str) -> list[int]:
    """Token ids the model sees for a user prompt (inside the chat template if there is one)."""
    if getattr(tokenizer, "chat_template", None):
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=False
        )
        return [int(i) for i in tokenizer(str(rendered), add_special_tokens=False)["input_ids"]]
    return [int(i) for i in tokenizer(text)["input_ids"]]


def greedy_answer(model: ScoringModel, prompt: str, max_new_tokens: int) -> list[int]:
    """The ids the model generates greedily after ``prompt`` (end token included if produced)."""
    return model.greedy_ids(prompt_ids(model.tokenizer, prompt), max_new_tokens)


class AnswerLogProb:
    """The function SHAP explains: masked prompts in, ``log p(answer | prompt)`` out.

    Called by the explainer with a batch of masked prompt strings; scores them
    in padded batches of ``batch_size``.
    """

    def __init__(
        self, model: ScoringModel, answer_ids: Sequence[int], batch_size: int = 32
    ) -> None:
        if not answer_ids:
            raise ValueError("answer_ids must hold at least one token")
        self.model = model
        self.answer = list(answer_ids)
        self.batch_size = batch_size
        self.calls = 0

    def __call__(self, texts: Any) -> np.ndarray:
        """``log p(answer | text)`` for each (masked) prompt text."""
        texts = [str(t) for t in texts]
        self.calls += len(texts)
        scores: list[float] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [
                prompt_ids(self.model.tokenizer, t) for t in texts[start : start + self.batch_size]
            ]
            scores.extend(self.model.continuation_log_probs(batch, self.answer))
        return np.asarray(scores, dtype=np.float64)


@dataclass(frozen=True)
class PromptAttribution:
    """One prompt explained: its token segments, one SHAP value each, and the answer."""

    prompt: str
    tokens: tuple[str, ...]
    values: tuple[float, ...]
    base_value: float
    log_prob: float
    answer_ids: tuple[int, ...]
    answer: str
    truncated: bool
    max_evals: int
    model_calls: int
    seconds: float
    explanation: Any

    def top(self, k: int) -> list[tuple[int, float]]:
        """``(position, value)`` of the ``k`` largest absolute values, skipping empty segments."""
        order = sorted(
            (i for i, token in enumerate(self.tokens) if token.strip()),
            key=lambda i: (-abs(self.values[i]), i),
        )
        return [(i, self.values[i]) for i in order[:k]]


def truncate_prompt(tokenizer: Any, prompt: str, max_tokens: int) -> tuple[str, bool]:
    """``prompt`` cut after its first ``max_tokens`` tokens (at a token boundary), and whether cut."""
    encoded = tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    offsets = encoded["offset_mapping"]
    if len(offsets) <= max_tokens:
        return prompt, False
    return prompt[: offsets[max_tokens - 1][1]], True


def explain_prompt(
    model: ScoringModel,
    prompt: str,
    *,
    max_new_tokens: int = 16,
    max_evals: int = 200,
    max_prompt_tokens: int = 64,
    algorithm: str = "partition",
    seed: int = 0,
    batch_size: int = 32,
) -> PromptAttribution:
    """Answer ``prompt`` greedily, then attribute ``log p(answer | prompt)`` to its tokens."""
    import shap

    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    tokenizer = model.tokenizer
    started = time.perf_counter()
    # Explain exactly the text the masker rebuilds when nothing is masked.
    prompt, truncated = truncate_prompt(tokenizer, normalise_whitespace(prompt), max_prompt_tokens)
    answer_ids = greedy_answer(model, prompt, max_new_tokens)
    scorer = AnswerLogProb(model, answer_ids, batch_size=batch_size)
    masker = shap.maskers.Text(SegmentTokenizer(tokenizer))
    features = len(masker.feature_names(prompt)[0])
    evals = max_evals
    if algorithm == "permutation":
        # One permutation costs 2 * features + 1 evaluations; shap refuses fewer.
        evals = max(max_evals, 2 * features + 1)
    explainer = shap.Explainer(scorer, masker, algorithm=algorithm, seed=seed)
    # shap's seed= only seeds numpy's global generator, once, when the explainer is built.
    # With a text masker the permutation explainer shuffles inside numba-compiled code,
    # which draws from numba's own generator: seed both, per prompt, so a result depends
    # only on (model, prompt, seed), not on the prompts explained before it.
    np.random.seed(seed)
    seed_numba(seed)
    result = explainer([prompt], max_evals=evals, batch_size=batch_size, silent=True)
    row = result[0]
    values = tuple(float(v) for v in np.asarray(row.values, dtype=np.float64).reshape(-1))
    return PromptAttribution(
        prompt=prompt,
        tokens=tuple(str(t) for t in row.data),
        values=values,
        base_value=float(np.asarray(row.base_values).reshape(-1)[0]),
        log_prob=float(scorer([prompt])[0]),
        answer_ids=tuple(answer_ids),
        answer=str(tokenizer.decode(answer_ids, skip_special_tokens=True)),
        truncated=truncated,
        max_evals=evals,
        model_calls=scorer.calls,
        seconds=time.perf_counter() - started,
        explanation=row,
    )
