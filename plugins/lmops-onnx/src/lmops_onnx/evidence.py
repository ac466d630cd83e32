"""The evidence kind lmops-onnx produces, so policies can name its metrics.

Every ``compression`` record carries the "before/after" metrics below, where
"before" is the model the compressor started from (torch fp32 for an export,
ONNX Runtime fp32 for int8) and "after" is the output. Records also carry
precision-labelled metrics (``perplexity_int8``, ``latency_p50_ms_torch_fp32``,
``ops_MatMulInteger``...) that depend on what was measured.
"""

from __future__ import annotations

from lmops_core.contracts import EvidenceKind, Metric

COMPRESSION_METRICS: tuple[Metric, ...] = (
    Metric("size_bytes_before", "integer", "bytes"),
    Metric("size_bytes_after", "integer", "bytes", "lower"),
    Metric("size_ratio", "number", "ratio", "lower", headline=True),
    Metric("latency_p50_ms_before", "number", "ms"),
    Metric("latency_p95_ms_before", "number", "ms"),
    Metric("latency_p50_ms_after", "number", "ms", "lower"),
    Metric("latency_p95_ms_after", "number", "ms", "lower"),
    Metric("latency_ratio", "number", "ratio", "lower", headline=True),
    Metric("perplexity_before", "number", "perplexity"),
    Metric("perplexity_after", "number", "perplexity", "lower"),
    Metric("perplexity_increase_pct", "number", "%", "lower", headline=True),
    Metric("greedy_agreement", "number", "share", "higher", headline=True),
    Metric("max_abs_logit_diff", "number", "logits", "lower"),
    Metric("quantized_ops_total", "integer", "operators"),
    Metric("eval_tokens", "integer", "tokens"),
)

#: Metrics labelled by what was measured, present depending on the compressor and inputs.
LABELLED_METRICS: tuple[Metric, ...] = (
    Metric("latency_p50_ms_*", "number", "ms", "lower"),
    Metric("latency_p95_ms_*", "number", "ms", "lower"),
    Metric("latency_ratio_vs_*", "number", "ratio", "lower"),
    Metric("perplexity_*", "number", "perplexity", "lower"),
    Metric("size_bytes_*", "integer", "bytes"),
    Metric("weights_quantized_fraction", "number", "share"),
    Metric("ops_*", "integer", "operators"),
)

COMPRESSION_EVIDENCE = EvidenceKind(
    name="compression",
    description=(
        "What a compression step bought and cost, measured in the same run on the same "
        "machine: weight bytes before/after, forward latency p50/p95 at batch 1 on a fixed "
        "prompt set, perplexity on held-out text, greedy next-token agreement, and the "
        "quantized operators in the output graph."
    ),
    metrics=(*COMPRESSION_METRICS, *LABELLED_METRICS),
)
