"""What compression bought and cost, measured on this machine: size, latency, quality.

Latency engines are timed round-robin (each prompt, each engine in turn) so a
burst of load on a shared machine hits all of them alike rather than one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmops_core.errors import ValidationError

LogitsFn = Callable[[np.ndarray], np.ndarray]


def torch_weight_bytes(folder: Path) -> int:
    """Bytes of the safetensors weight files of a Hugging Face model folder."""
    return sum(p.stat().st_size for p in folder.glob("*.safetensors") if p.is_file())


def onnx_weight_bytes(model_path: Path, data_paths: Sequence[Path]) -> int:
    """Bytes of an ONNX graph file plus its (distinct) external data files."""
    return model_path.stat().st_size + sum(p.stat().st_size for p in set(data_paths))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation) of ``values``."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def time_engines(
    engines: Mapping[str, LogitsFn],
    prompts: Sequence[np.ndarray],
    *,
    repeats: int,
    warmup: int = 1,
) -> dict[str, list[float]]:
    """Milliseconds per forward pass for each engine over ``prompts`` x ``repeats``."""
    for _ in range(warmup):
        for ids in prompts:
            for fn in engines.values():
                fn(ids)
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(repeats):
        for ids in prompts:
            for name, fn in engines.items():
                start = time.perf_counter()
                fn(ids)
                times[name].append((time.perf_counter() - start) * 1000.0)
    return times


def _token_nll(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Negative log-likelihood of each target under row-wise logits (float64 for stability)."""
    scores = logits.astype(np.float64)
    peak = scores.max(axis=-1, keepdims=True)
    log_norm = peak[:, 0] + np.log(np.exp(scores - peak).sum(axis=-1))
    nll: np.ndarray = log_norm - scores[np.arange(targets.shape[0]), targets]
    return nll


@dataclass(frozen=True)
class QualityComparison:
    """Perplexities of a reference and a candidate model on the same tokens, and agreement."""

    perplexity_reference: float
    perplexity_candidate: float
    greedy_agreement: float
    max_abs_logit_diff: float
    tokens: int
    sequences: int

    @property
    def perplexity_increase_pct(self) -> float:
        """Relative increase of the candidate's perplexity, in percent."""
        return (self.perplexity_candidate / self.perplexity_reference - 1.0) * 100.0


def compare_quality(
    reference: LogitsFn, candidate: LogitsFn, sequences: Sequence[Sequence[int]]
) -> QualityComparison:
    """Teacher-forced comparison over ``sequences`` (each at least two tokens).

    Perplexity is exp(mean next-token NLL over all predicted positions); the
    greedy agreement is the share of positions where both models' top token is
    the same, i.e. how often greedy decoding would pick the same next token.
    """
    nll_ref = nll_cand = 0.0
    agree = tokens = used = 0
    max_diff = 0.0
    for seq in sequences:
        if len(seq) < 2:
            continue
        ids = np.asarray([list(seq)], dtype=np.int64)
        logits_ref = reference(ids)[0, :-1]
        logits_cand = candidate(ids)[0, :-1]
        targets = ids[0, 1:]
        nll_ref += float(_token_nll(logits_ref, targets).sum())
        nll_cand += float(_token_nll(logits_cand, targets).sum())
        agree += int((logits_ref.argmax(-1) == logits_cand.argmax(-1)).sum())
        max_diff = max(max_diff, float(np.abs(logits_ref - logits_cand).max()))
        tokens += int(targets.shape[0])
        used += 1
    if tokens == 0:
        raise ValidationError(
            "no held-out text encodes to two or more tokens to measure quality on"
        )
    return QualityComparison(
        perplexity_reference=math.exp(nll_ref / tokens),
        perplexity_candidate=math.exp(nll_cand / tokens),
        greedy_agreement=agree / tokens,
        max_abs_logit_diff=max_diff,
        tokens=tokens,
        sequences=used,
    )
