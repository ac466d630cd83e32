"""The evidence kinds lmops-hf produces."""

from __future__ import annotations

from lmops_core.contracts import EvidenceKind, Metric

TRAINING = EvidenceKind(
    name="training",
    description=(
        "How a model version was trained: method, steps, loss, throughput and the share of "
        "parameters trained (DPO adds the preference margin before and after)"
    ),
    metrics=[
        Metric("operation", "string"),
        Metric("method", "string"),
        Metric("first_loss", "number", "nats", "lower", headline=True),
        Metric("final_loss", "number", "nats", "lower", headline=True),
        Metric("train_loss", "number", "nats", "lower"),
        Metric("steps", "integer", "steps", headline=True),
        Metric("trainable_fraction", "number", "share", headline=True),
        Metric("duration_s", "number", "s", "lower", headline=True),
        Metric("tokens_per_s", "number", "tokens/s", "higher"),
        Metric("trainable_params", "integer", "parameters"),
    ],
)
