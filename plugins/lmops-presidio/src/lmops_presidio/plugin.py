"""Hook implementations of lmops-presidio: the ``pii-redact`` step and ``pii`` evidence."""

from __future__ import annotations

from lmops_core import hookimpl
from lmops_core.contracts import EvidenceKind, Register

PII_EVIDENCE = EvidenceKind(
    name="pii",
    description=(
        "Personal data found in a dataset before redaction and left after it (by re-scanning "
        "the output), with per-entity counts as before.<ENTITY> / after.<ENTITY>. Counts only."
    ),
    metrics={
        "findings_before": "integer",
        "findings_after": "integer",
        "records": "integer",
        "records_touched": "integer",
        "fields": "integer",
        "fields_touched": "integer",
    },
)
"""The evidence kind the ``pii-redact`` step produces."""


@hookimpl
def register_data_steps(register: Register) -> None:
    """Offer the ``pii-redact`` step."""
    from lmops_presidio.step import PiiRedactionStep

    register(PiiRedactionStep())


@hookimpl
def register_evidence_kinds(register: Register) -> None:
    """Declare the ``pii`` evidence kind."""
    register(PII_EVIDENCE)
