"""The evidence kinds lmops-lm-eval produces, declared for policy files."""

from __future__ import annotations

from lmops_core.contracts import EvidenceKind

EVAL = EvidenceKind(
    name="eval",
    description=(
        "lm-eval results on a model: '<task>.<metric>' and '<task>.<metric>_stderr' for every "
        "metric lm-eval reports (a non-'none' filter is appended: '<metric>_<filter>'); 'acc' is "
        "the mean over tasks of each task's first accuracy-like metric (acc, exact_match, "
        "acc_norm); 'samples' the samples scored; 'suite_passed' when run from a suite."
    ),
    # '<task>.<metric>' names vary with the tasks run: declared as a pattern.
    metrics={"acc": "number", "samples": "integer", "tasks": "integer",
             "suite_passed": "boolean", "*.*": "number"},
)

SERVING_PERF = EvidenceKind(
    name="serving_perf",
    description=(
        "Streaming serving performance: time to first token, inter-token latency, "
        "end-to-end latency percentiles (ms) and throughput at a concurrency."
    ),
    metrics={
        "ttft_ms_p50": "number", "ttft_ms_p95": "number", "itl_ms_p50": "number",
        "tokens_per_s": "number", "latency_ms_p50": "number", "latency_ms_p95": "number",
        "concurrency": "integer", "requests": "integer", "runtime": "string",
    },
)

RATINGS = EvidenceKind(
    name="ratings",
    description=(
        "Subjective ratings (human or LLM judge): with scores, score_mean, score_stderr, "
        "score_ci_low/high (95%); with pairwise preferences, win_rate (ties half) and its "
        "Wilson 95% interval win_rate_ci_low/high, wins, losses, ties."
    ),
    metrics={"source": "string", "count": "integer", "scored": "integer",
             "comparisons": "integer", "score_mean": "number", "score_stderr": "number",
             "score_ci_low": "number", "score_ci_high": "number", "win_rate": "number",
             "win_rate_ci_low": "number", "win_rate_ci_high": "number", "wins": "integer",
             "losses": "integer", "ties": "integer", "suite_passed": "boolean"},
)

ALL_KINDS = (EVAL, SERVING_PERF, RATINGS)
"""Every kind this plugin registers."""
