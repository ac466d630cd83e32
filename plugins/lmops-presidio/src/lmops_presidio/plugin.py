"""Hook implementations of lmops-presidio: the ``pii-redact`` step, ``pii`` evidence, the guard."""

from __future__ import annotations

from typing import Any

from lmops_core import hookimpl
from lmops_core.contracts import Direction, EvidenceKind, Metric, Register
from lmops_core.kit import registers, report_sections
from lmops_core.runtimes import Guard, TextGuard

_PII_COUNTS: tuple[tuple[str, str, Direction, bool, str], ...] = (
    # name, unit, which way is better, headline, description
    ("findings_before", "findings", "none", True, ""),
    ("findings_after", "findings", "lower", True, ""),
    ("records_touched", "records", "none", True, ""),
    ("records", "records", "none", True, ""),
    ("fields", "fields", "none", False, ""),
    ("fields_touched", "fields", "none", False, ""),
    ("before.*", "findings", "none", False, "findings per entity type"),
    ("after.*", "findings", "lower", False, "findings left per entity type"),
)
"""Every metric of the ``pii`` evidence is an integer count."""

PII_EVIDENCE = EvidenceKind(
    name="pii",
    description=(
        "Personal data found in a dataset before redaction and left after it (by re-scanning "
        "the output), with per-entity counts as before.<ENTITY> / after.<ENTITY>. Counts only."
    ),
    metrics=[
        Metric(name, "integer", unit, direction, headline, text)
        for name, unit, direction, headline, text in _PII_COUNTS
    ],
)
"""The evidence kind the ``pii-redact`` step produces."""


#: The ``pii-redact`` step (presidio is imported when it runs).
register_data_steps = registers("lmops_presidio.step:PiiRedactionStep")


def _pii_guard(**options: Any) -> TextGuard:
    # presidio is imported when a guard is built, not when plugins register.
    from lmops_presidio.guard import make_pii_guard

    return make_pii_guard(**options)


@hookimpl
def register_guards(register: Register) -> None:
    """Offer the ``pii`` guard (options: ``entities``, ``patterns_only``, ``config``)."""
    register(
        Guard(
            name="pii",
            factory=_pii_guard,
            description="personal data found and redacted with presidio (patterns, "
            "checksums and a spaCy NER model for names and places)",
        )
    )


register_evidence_kinds = registers(PII_EVIDENCE)
#: The PII evidence section: counts per entity type before and after redaction.
lmops_report_sections = report_sections("lmops_presidio.report_section:pii_section")
