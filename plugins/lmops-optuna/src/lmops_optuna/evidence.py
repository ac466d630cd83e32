"""The evidence kinds lmops-optuna records."""

from __future__ import annotations

from lmops_core.contracts import EvidenceKind, Metric

SWEEP = EvidenceKind(
    name="sweep",
    description=(
        "A hyperparameter sweep this version was a trial of: its objective, the best trial, "
        "whether it is the sweep's candidate; details hold the search space, sampler, seed "
        "and every trial"
    ),
    metrics=[
        Metric("candidate", "boolean", headline=True, description="the sweep's best trial"),
        Metric("objective", "number", "", "none", headline=True, description="this trial's"),
        Metric("best_objective", "number", "", "none", description="the best trial's"),
        Metric("objective_metric", "string"),
        Metric("direction", "string", description="minimize or maximize"),
        Metric("trial", "integer", description="this trial's number in the study"),
        Metric("best_trial", "integer"),
        Metric("trials_complete", "integer", "trials", headline=True),
        Metric("trials_pruned", "integer", "trials", headline=True),
        Metric("trials_failed", "integer", "trials"),
        Metric("sampler", "string"),
        Metric("seed", "integer"),
        Metric("study", "string"),
    ],
)

HELDOUT_LOSS = EvidenceKind(
    name="heldout_loss",
    description="Mean negative log-likelihood per response token on a held-out dataset",
    metrics=[
        Metric("heldout_loss", "number", "nats/token", "lower", headline=True),
        Metric("perplexity", "number", "", "lower"),
        Metric("records", "integer", "records"),
        Metric("tokens", "integer", "tokens"),
    ],
)
