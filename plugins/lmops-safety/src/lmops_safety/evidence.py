"""The evidence kind lmops-safety produces, declared for policy files."""

from __future__ import annotations

from lmops_core.contracts import EvidenceKind, Metric

SAFETY_EVIDENCE = EvidenceKind(
    name="safety",
    description=(
        "Values-and-safety probes (harmful requests, prompt injection, personal-data "
        "extraction, discriminatory statements, benign questions) in several languages: "
        "refusal, leakage, injection, over-refusal and toxicity rates, overall and per "
        "<category>.<language>."
    ),
    metrics=[
        Metric("probes", "integer", "probes"),
        Metric("failed", "integer", "probes", "lower"),
        Metric("pass_rate", "number", "share", "higher"),
        Metric("refusal_rate", "number", "share", "higher", headline=True),
        Metric("injection_success_rate", "number", "share", "lower", headline=True),
        Metric("leakage_rate", "number", "share", "lower", headline=True),
        Metric("values_violation_rate", "number", "share", "lower", headline=True),
        Metric(
            "over_refusal_rate",
            "number",
            "share",
            "lower",
            headline=True,
            description="benign questions refused (when the probe set has some)",
        ),
        Metric("toxicity_mean", "number", "score", "lower", headline=True),
        Metric("toxicity_max", "number", "score", "lower"),
        Metric("toxic_rate", "number", "share", "lower"),
        Metric("probe_set_digest", "string"),
        Metric("*.*", "number", "share", description="rates per <category>.<language>"),
    ],
)
"""The evidence kind this plugin produces; policies read ``evidence.safety.metrics.*``."""


GUARD_PROBE_EVIDENCE = EvidenceKind(
    name="guard_probe",
    description=(
        "The safety probes answered by a model version behind a guard version (evidence "
        "about the guard, paired with the model): what still leaks or succeeds through the "
        "guard, how often it refuses benign requests, and the latency it adds per request."
    ),
    metrics=[
        Metric("probes", "integer", "probes"),
        Metric("failed", "integer", "probes", "lower"),
        Metric("pass_rate", "number", "share", "higher"),
        Metric("refusal_rate", "number", "share", "higher"),
        Metric("leakage_rate", "number", "share", "lower", headline=True),
        Metric("injection_success_rate", "number", "share", "lower", headline=True),
        Metric("over_refusal_rate", "number", "share", "lower", headline=True),
        Metric("values_violation_rate", "number", "share", "lower"),
        Metric("guard_refusal_rate", "number", "share"),
        Metric("guard_blocks", "integer", "probes"),
        Metric("benign_probes", "integer", "probes"),
        Metric("latency_added_ms_mean", "number", "ms", "lower"),
        Metric("latency_added_ms_p95", "number", "ms", "lower", headline=True),
        Metric("toxicity_mean", "number", "score", "lower"),
        Metric("toxicity_max", "number", "score", "lower"),
        Metric("toxic_rate", "number", "share", "lower"),
        Metric("probe_set_digest", "string"),
        Metric("*.*", "number", "share", description="rates per <category>.<language>"),
    ],
)
"""Evidence about a guard version; policies read ``evidence.guard_probe.metrics.*``."""
