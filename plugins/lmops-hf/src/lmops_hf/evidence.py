"""The evidence kinds lmops-hf produces."""

from __future__ import annotations

from lmops_core.contracts import EvidenceKind

TRAINING = EvidenceKind(
    name="training",
    description=(
        "How a model version was trained: method, steps, loss, throughput and the share of "
        "parameters trained (DPO adds the preference margin before and after)"
    ),
    metrics={
        "operation": "string",
        "method": "string",
        "train_loss": "number",
        "final_loss": "number",
        "steps": "integer",
        "duration_s": "number",
        "tokens_per_s": "number",
        "trainable_params": "integer",
        "trainable_fraction": "number",
    },
)
