"""The evidence kinds lmops-lm-eval produces, declared for policy files."""

from __future__ import annotations

from lmops_core.contracts import EvidenceKind, Metric

EVAL = EvidenceKind(
    name="eval",
    description=(
        "lm-eval results on a model: '<task>.<metric>' and '<task>.<metric>_stderr' for every "
        "metric lm-eval reports (a non-'none' filter is appended: '<metric>_<filter>'); 'acc' is "
        "the mean over tasks of each task's first accuracy-like metric (acc, exact_match, "
        "acc_norm); 'samples' the samples scored; 'suite_passed' when run from a suite."
    ),
    # '<task>.<metric>' names vary with the tasks run: declared as a pattern.
    metrics=[
        Metric("acc", "number", "share", "higher", headline=True),
        Metric("samples", "integer", "samples", headline=True),
        Metric("tasks", "integer", "tasks", headline=True),
        Metric("suite_passed", "boolean", headline=True),
        Metric("*.*", "number", description="'<task>.<metric>' and its '_stderr'"),
    ],
)

LATENCY_SERIES = ("ttft", "itl", "latency")
"""What serving-perf times: first token, gaps between tokens, whole request."""
LATENCY_PERCENTILES = (50, 95)
"""The percentiles reported for each latency series."""
_HEADLINE_LATENCIES = {"ttft_ms_p50", "latency_ms_p95"}


def latency_metric(series: str, percentile: int) -> str:
    """The metric name of one latency percentile, in milliseconds: ``ttft_ms_p50``."""
    return f"{series}_ms_p{percentile}"


_LATENCY_METRICS = [latency_metric(s, q) for s in LATENCY_SERIES for q in LATENCY_PERCENTILES]

SERVING_PERF = EvidenceKind(
    name="serving_perf",
    description=(
        "Streaming serving performance: time to first token, inter-token latency, "
        "end-to-end latency percentiles (ms) and throughput at a concurrency."
    ),
    metrics=[
        *(
            Metric(name, "number", "ms", "lower", headline=name in _HEADLINE_LATENCIES)
            for name in _LATENCY_METRICS
        ),
        Metric("tokens_per_s", "number", "tokens/s", "higher", headline=True),
        Metric("runtime", "string", headline=True),
        Metric("concurrency", "integer", "requests"),
        Metric("requests", "integer", "requests"),
    ],
)

RATINGS = EvidenceKind(
    name="ratings",
    description=(
        "Subjective ratings (human or LLM judge): with scores, score_mean, score_stderr, "
        "score_ci_low/high (95%); with pairwise preferences, win_rate (ties half) and its "
        "Wilson 95% interval win_rate_ci_low/high, wins, losses, ties."
    ),
    metrics=[
        Metric("source", "string", headline=True),
        Metric("count", "integer", "ratings", headline=True),
        Metric("scored", "integer", "ratings"),
        Metric("comparisons", "integer", "comparisons"),
        Metric("score_mean", "number", "score", "higher", headline=True),
        Metric("score_stderr", "number", "score", "lower"),
        Metric("score_ci_low", "number", "score", "higher"),
        Metric("score_ci_high", "number", "score", "higher"),
        Metric("win_rate", "number", "share", "higher", headline=True),
        Metric("win_rate_ci_low", "number", "share", "higher"),
        Metric("win_rate_ci_high", "number", "share", "higher"),
        Metric("wins", "integer", "comparisons", "higher"),
        Metric("losses", "integer", "comparisons", "lower"),
        Metric("ties", "integer", "comparisons"),
        Metric("suite_passed", "boolean"),
    ],
)

ALL_KINDS = (EVAL, SERVING_PERF, RATINGS)
"""Every kind this plugin registers."""
