"""Evidence kinds the core itself produces."""

from __future__ import annotations

from lmops_core.contracts import EvidenceKind, Register
from lmops_core.hookspecs import hookimpl


@hookimpl(trylast=True)
def register_evidence_kinds(register: Register) -> None:
    """Kinds recorded by the core: dataset cards, ingestion reports and manual validation."""
    register(EvidenceKind(
        name="dataset_card",
        description="What a dataset version holds: records, shape, lengths, languages, "
                    "duplicates, content digest.",
        metrics={"records": "integer", "duplicates": "integer"},
    ))
    register(EvidenceKind(
        name="ingestion",
        description="How a dataset file was ingested: records read, dropped as invalid.",
        metrics={"records_read": "integer", "records_dropped": "integer"},
    ))
    register(EvidenceKind(
        name="validation",
        description="An independent validation report attached by a validator.",
    ))
    register(EvidenceKind(
        name="pickle_allowed",
        description="Files of a model version that are not an inert format (pickle or unknown), "
                    "accepted because someone whose policy allows it passed --allow-pickle.",
        metrics={"files": "integer"},
    ))
