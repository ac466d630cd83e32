"""Facts a pack may read that no plugin records: computed from the store when a pack is judged.

Some clauses ask about the store itself rather than a measurement of the model:
that the audit log is intact and holds the version's history (record keeping),
and that the data the version was trained on is described and scanned for
personal data (data governance). Nobody attaches such evidence; it is read, at
the moment of judging, from the audit chain and from the version's lineage, and
offered to the policy engine as evidence of two derived kinds, marked as coming
from :data:`DERIVED_BY` so a pack rule can insist on them (``plugin: lmops-compliance``)
and a hand-attached record of the same kind never stands in for them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from lmops_core.audit.chain import VerifyResult
from lmops_core.digests import digest_bytes
from lmops_core.policy import EvidenceFacts
from lmops_core.registry.schemas import (
    AuditEventPublic,
    EvidencePublic,
    LineageEdgePublic,
    VersionPublic,
)

#: The ``plugin`` of every derived fact (a pack rule filters on it).
DERIVED_BY = "lmops-compliance"
#: Derived kind: the audit chain verified, and how many of its events are about the version.
AUDIT_LOG = "audit_log"
#: Derived kind: the datasets the version was trained on, their cards and PII scans.
TRAINING_DATA = "training_data"
#: Every derived kind, in the order they are computed.
DERIVED_KINDS: tuple[str, ...] = (AUDIT_LOG, TRAINING_DATA)

_EVENT_PAGE = 1000


class FactSource(Protocol):
    """What deriving the facts reads of a store (a ``Workspace`` is one)."""

    def verify_audit(self) -> VerifyResult:
        """Re-check the whole audit chain."""
        ...

    def audit_events(
        self, *, subject: str | None = None, after_seq: int = 0, limit: int = 100
    ) -> list[AuditEventPublic]:
        """Audit events in chain order after ``after_seq``."""
        ...

    def lineage(
        self, ref: str, *, direction: str = "up", depth: int = 10
    ) -> list[LineageEdgePublic]:
        """Lineage edges reachable from ``ref``."""
        ...

    def evidence(self, ref: str, *, kind: str | None = None) -> list[EvidencePublic]:
        """The evidence on ``ref``, oldest first."""
        ...


@dataclass(frozen=True)
class DerivedFact:
    """One fact computed from the store: its kind, numeric metrics and what it was read from."""

    kind: str
    metrics: Mapping[str, float | int | bool]
    #: What the fact was computed from (dataset refs and evidence digests), for the report.
    basis: tuple[str, ...]

    @property
    def digest(self) -> str:
        """SHA-256 of the fact's canonical content (the same store state gives the same one)."""
        body = {"kind": self.kind, "metrics": dict(self.metrics), "basis": list(self.basis)}
        return digest_bytes(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())

    def as_evidence(self, version: VersionPublic, now: datetime) -> EvidenceFacts:
        """The fact as the policy engine reads evidence: about ``version``, dated ``now``."""
        return EvidenceFacts(
            kind=self.kind,
            subject_digest=version.digest,
            metrics=dict(self.metrics),
            created_at=now,
            plugin=DERIVED_BY,
            digest=self.digest,
            actor=DERIVED_BY,
        )


def derive_facts(source: FactSource, version: VersionPublic) -> list[DerivedFact]:
    """Every derived fact about ``version``, in :data:`DERIVED_KINDS` order."""
    return [audit_log_fact(source, version), training_data_fact(source, version)]


def audit_log_fact(source: FactSource, version: VersionPublic) -> DerivedFact:
    """``verified`` (the whole chain, its signed head and checkpoints check out), ``events``
    (in the chain) and ``version_events`` (events whose subject is the version)."""
    result = source.verify_audit()
    mine, after = 0, 0
    while True:
        page = source.audit_events(subject=version.ref, after_seq=after, limit=_EVENT_PAGE)
        mine += len(page)
        if len(page) < _EVENT_PAGE:
            break
        after = page[-1].seq
    metrics = {"verified": result.ok, "events": result.events, "version_events": mine}
    # Which checkpoint was used is left out: it names the newest, and reading it must not
    # move the report's digest while the chain itself has not changed.
    return DerivedFact(AUDIT_LOG, metrics, ())


def training_data_fact(source: FactSource, version: VersionPublic) -> DerivedFact:
    """The dataset versions ``version`` was made from (its direct dataset parents):
    ``datasets``, ``carded`` (with a ``dataset_card``), ``pii_scanned`` (with ``pii``
    evidence) and ``pii_findings_after`` (personal data left, summed over their newest scans)."""
    parents = sorted(
        {
            edge.parent
            for edge in source.lineage(version.ref, direction="up", depth=1)
            if edge.child == version.ref and edge.parent.startswith("dataset:")
        }
    )
    carded = scanned = left = 0
    basis: list[str] = []
    for ref in parents:
        newest = _newest_by_kind(source.evidence(ref))
        card, pii = newest.get("dataset_card"), newest.get("pii")
        basis.append(ref)
        if card is not None:
            carded += 1
            basis.append(f"{ref} dataset_card {card.digest}")
        found = None if pii is None else pii.metrics.get("findings_after")
        if pii is not None and isinstance(found, int) and not isinstance(found, bool):
            # A scan that does not say what it left is no scan (fail closed).
            scanned += 1
            left += found
            basis.append(f"{ref} pii {pii.digest}")
    metrics: dict[str, Any] = {
        "datasets": len(parents),
        "carded": carded,
        "pii_scanned": scanned,
        "pii_findings_after": left,
    }
    return DerivedFact(TRAINING_DATA, metrics, tuple(basis))


def _newest_by_kind(records: Sequence[EvidencePublic]) -> dict[str, EvidencePublic]:
    newest: dict[str, EvidencePublic] = {}
    for record in records:  # oldest first: the newest of a kind stays
        newest[record.kind] = record
    return newest


__all__ = [
    "AUDIT_LOG",
    "DERIVED_BY",
    "DERIVED_KINDS",
    "TRAINING_DATA",
    "DerivedFact",
    "FactSource",
    "audit_log_fact",
    "derive_facts",
    "training_data_fact",
]
