"""The evidence kind of the drift monitor (kept light: no Evidently import)."""

from __future__ import annotations

from lmops_core.contracts import EvidenceKind, Metric

DRIFT_EVIDENCE = EvidenceKind(
    name="drift",
    description=(
        "Data and text drift between a reference window and a current window, measured by "
        "Evidently's DataDriftPreset over numeric and categorical fields and text descriptors "
        "(length, words, OOV rate, script, refusal rate, PII hit rate). Per-column results are "
        "column.<name>.score / .method / .threshold / .drifted."
    ),
    metrics=[
        Metric(
            "dataset_drift",
            "boolean",
            headline=True,
            description="whether the share of drifted columns reached the threshold",
        ),
        Metric("drifted_share", "number", "share", "lower", headline=True),
        Metric("drifted_columns", "integer", "columns", "lower", headline=True),
        Metric("columns", "integer", "columns", headline=True),
        Metric("drift_share_threshold", "number", "share"),
        Metric("rows_reference", "integer", "rows"),
        Metric("rows_current", "integer", "rows"),
        Metric("rows_reference_analyzed", "integer", "rows"),
        Metric("rows_current_analyzed", "integer", "rows"),
        Metric("sampled", "boolean"),
        Metric("sample_rows", "integer", "rows"),
        Metric("chunk_size", "integer", "rows"),
        Metric("column.*.score", "number", description="drift score of one column"),
        Metric("column.*.threshold", "number"),
        Metric("column.*.method", "string"),
        Metric("column.*.drifted", "boolean"),
    ],
)
"""The evidence kind this monitor produces, for policies such as
``not evidence.drift.metrics.dataset_drift``."""
