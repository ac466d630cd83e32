"""The "serving-perf" evaluator: streaming latency and throughput, torch or ONNX Runtime.

Each request streams a greedy completion token by token (chat template when
the tokenizer has one). Measured per request, with ``time.perf_counter``:
time to first token (TTFT: request start to the first token), end-to-end
latency (start to the last token), and the gaps between consecutive tokens
(inter-token latency, ITL). ``requests`` requests run on ``concurrency``
threads at once. ``tokens_per_s`` is throughput: all generated tokens over the
wall time from the first request's start to the last one's end. Percentiles are
numpy's linear interpolation. With ``ignore_eos`` (default) every request makes
exactly ``max_new_tokens`` tokens, so runs compare like for like.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lmops_core.contracts import EvidenceRecord, StageContext, StageResult
from lmops_core.errors import StageError
from lmops_core.kit import BaseOperation
from lmops_lm_eval.evidence_kinds import LATENCY_PERCENTILES, LATENCY_SERIES, latency_metric
from lmops_lm_eval.models import LoadedModel, load_role
from lmops_lm_eval.params import ServingPerfParams

DEFAULT_PROMPTS = (
    "What is the capital of France?",
    "What is 7 + 8?",
    "Tell me about the quick brown fox.",
    "Name three capital cities in Europe.",
    "法国的首都是哪里？",
    "7 加 8 等于多少？",
    "请介绍一下北京。",
    "What is 9 * 6?",
)
"""The built-in prompt set (English and Chinese) used when no ``prompts`` param is given."""


@dataclass
class RequestTiming:
    """Timings of one streamed request, in seconds from its own start."""

    ttft: float
    latency: float
    gaps: list[float] = field(default_factory=list)
    tokens: int = 0


def time_stream(
    loaded: LoadedModel, prompt: str, *, max_new_tokens: int, ignore_eos: bool
) -> RequestTiming:
    """Stream one completion and time its tokens."""
    start = time.perf_counter()
    stamps: list[float] = []
    for _piece in loaded.token_pieces(prompt, max_new_tokens=max_new_tokens, ignore_eos=ignore_eos):
        stamps.append(time.perf_counter())
    end = time.perf_counter()
    if not stamps:
        raise StageError(f"the model produced no token for prompt {prompt[:40]!r}")
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return RequestTiming(ttft=stamps[0] - start, latency=end - start, gaps=gaps, tokens=len(stamps))


def run_load(
    loaded: LoadedModel,
    prompts: Sequence[str],
    *,
    requests: int,
    concurrency: int,
    max_new_tokens: int,
    ignore_eos: bool,
) -> tuple[list[RequestTiming], float]:
    """Run ``requests`` streamed requests (cycling ``prompts``) on ``concurrency`` threads."""
    todo = [prompts[i % len(prompts)] for i in range(requests)]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        timings = list(
            pool.map(
                lambda pr: time_stream(
                    loaded, pr, max_new_tokens=max_new_tokens, ignore_eos=ignore_eos
                ),
                todo,
            )
        )
    return timings, time.perf_counter() - start


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) * 1000.0


def summarise(
    timings: Sequence[RequestTiming], wall: float, *, concurrency: int, runtime: str
) -> dict[str, Any]:
    """The ``serving_perf`` metrics for a finished load run."""
    samples = {
        "ttft": [t.ttft for t in timings],
        "itl": [g for t in timings for g in t.gaps],
        "latency": [t.latency for t in timings],
    }
    tokens = sum(t.tokens for t in timings)
    return {
        # One-token completions have no gap; their ITL is undefined, so report 0 then.
        **{
            latency_metric(series, q): _pct(samples[series], q) if samples[series] else 0.0
            for series in LATENCY_SERIES
            for q in LATENCY_PERCENTILES
        },
        "tokens_per_s": tokens / wall if wall > 0 else 0.0,
        "tokens": tokens,
        "concurrency": concurrency,
        "requests": len(timings),
        "runtime": runtime,
    }


class ServingPerfEvaluator(BaseOperation[ServingPerfParams]):
    """Measure streaming serving performance (time to first token, inter-token latency,
    tokens/s, p50/p95 latency) at a given concurrency, on torch or ONNX Runtime.

    Operation "serving-perf": TTFT, ITL, tokens/s and latency percentiles while streaming.
    """

    name = "serving-perf"
    input_roles = {"model": "model", "base": "model"}
    evidence_kinds = ("serving_perf",)

    def execute(self, context: StageContext, p: ServingPerfParams) -> StageResult:
        """Warm up, run the load, return ``serving_perf`` evidence on role "model"."""
        prompts = list(p.prompts or DEFAULT_PROMPTS)
        concurrency, max_new, warmup, ignore_eos = (
            p.concurrency,
            p.max_new_tokens,
            p.warmup,
            p.ignore_eos,
        )
        requests = p.requests if p.requests is not None else len(prompts)
        loaded = load_role(context, "model")
        context.progress.start("serving-perf", total=2)
        # Warm-up requests absorb one-off costs (lazy init, allocator growth).
        for i in range(warmup):
            time_stream(
                loaded, prompts[i % len(prompts)], max_new_tokens=max_new, ignore_eos=ignore_eos
            )
        context.progress.advance(1)
        timings, wall = run_load(
            loaded,
            prompts,
            requests=requests,
            concurrency=concurrency,
            max_new_tokens=max_new,
            ignore_eos=ignore_eos,
        )
        context.progress.advance(1)
        context.progress.finish()
        metrics = summarise(timings, wall, concurrency=concurrency, runtime=loaded.runtime)
        metrics["max_new_tokens"] = max_new
        details = {
            "loader": loaded.loader,
            "model_kind": loaded.kind,
            "ignore_eos": ignore_eos,
            "warmup": warmup,
            "wall_s": wall,
            "prompts": len(prompts),
            "per_request": [
                {"ttft_ms": t.ttft * 1000, "latency_ms": t.latency * 1000, "tokens": t.tokens}
                for t in timings
            ],
            "definitions": "TTFT: start to first token; ITL: gap between consecutive tokens; "
            "tokens_per_s: all tokens / wall time of the load run",
        }
        return StageResult(
            evidence=[
                EvidenceRecord(
                    kind="serving_perf", subject="model", metrics=metrics, details=details
                )
            ],
            metrics={k: float(v) for k, v in metrics.items() if isinstance(v, int | float)},
        )
