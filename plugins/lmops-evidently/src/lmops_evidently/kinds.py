"""The evidence kind of the drift monitor (kept light: no Evidently import)."""

from __future__ import annotations

from lmops_core.contracts import EvidenceKind

DRIFT_EVIDENCE = EvidenceKind(
    name="drift",
    description=(
        "Data and text drift between a reference window and a current window, measured by "
        "Evidently's DataDriftPreset over numeric and categorical fields and text descriptors "
        "(length, words, OOV rate, script, refusal rate, PII hit rate). Per-column results are "
        "column.<name>.score / .method / .threshold / .drifted."
    ),
    metrics={
        "dataset_drift": "boolean",
        "drifted_share": "number",
        "drifted_columns": "integer",
        "columns": "integer",
        "drift_share_threshold": "number",
        "rows_reference": "integer",
        "rows_current": "integer",
        "rows_reference_analyzed": "integer",
        "rows_current_analyzed": "integer",
        "sampled": "boolean",
        "sample_rows": "integer",
        "chunk_size": "integer",
    },
)
"""The evidence kind this monitor produces, for policies such as
``not evidence.drift.metrics.dataset_drift``."""
