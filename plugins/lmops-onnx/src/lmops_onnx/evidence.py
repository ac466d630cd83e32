"""The evidence kind lmops-onnx produces, so policies can name its metrics.

Every ``compression`` record carries the "before/after" metrics below, where
"before" is the model the compressor started from (torch fp32 for an export,
ONNX Runtime fp32 for int8) and "after" is the output. Records also carry
precision-labelled metrics (``perplexity_int8``, ``latency_p50_ms_torch_fp32``,
``ops_MatMulInteger``...) that depend on what was measured.
"""

from __future__ import annotations

from lmops_core.contracts import EvidenceKind

COMPRESSION_METRICS: dict[str, str] = {
    "size_bytes_before": "integer",
    "size_bytes_after": "integer",
    "size_ratio": "number",
    "latency_p50_ms_before": "number",
    "latency_p95_ms_before": "number",
    "latency_p50_ms_after": "number",
    "latency_p95_ms_after": "number",
    "latency_ratio": "number",
    "perplexity_before": "number",
    "perplexity_after": "number",
    "perplexity_increase_pct": "number",
    "greedy_agreement": "number",
    "max_abs_logit_diff": "number",
    "quantized_ops_total": "integer",
    "eval_tokens": "integer",
}

COMPRESSION_EVIDENCE = EvidenceKind(
    name="compression",
    description=(
        "What a compression step bought and cost, measured in the same run on the same "
        "machine: weight bytes before/after, forward latency p50/p95 at batch 1 on a fixed "
        "prompt set, perplexity on held-out text, greedy next-token agreement, and the "
        "quantized operators in the output graph."
    ),
    metrics=COMPRESSION_METRICS,
)
