"""What annotation reads from and writes to the registry: a version's records, and a new
version derived from it with its ``annotation`` evidence, in one transaction."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sqlmodel import Session

from lmops_core.acting_store import ActingStore
from lmops_core.artifacts.store import ArtifactStore
from lmops_core.datasets.ingest import ingest_file
from lmops_core.errors import ValidationError
from lmops_core.governance.workflow import Governance
from lmops_core.registry import store
from lmops_core.registry.models import Evidence

#: The evidence kind annotation and sample review record (see builtins.evidence_kinds).
KIND = "annotation"
STAGE = "data_preparation"
PLUGIN = "lmops-core"


class AnnotatingStore(ActingStore, Protocol):
    """What annotation uses of a store (a ``Workspace`` is one)."""

    artifacts: ArtifactStore

    @property
    def governance(self) -> Governance:
        """The governance service, acting as :attr:`actor` (who may review)."""
        ...


@dataclass(frozen=True)
class SourceRecords:
    """A single-file dataset version's records: canonical lines and parsed objects."""

    ref: str
    name: str
    digest: str
    shape: str
    lines: list[bytes]
    records: list[dict[str, Any]]


def read_source(ws: AnnotatingStore, ref: str) -> SourceRecords:
    """The records of the dataset version ``ref`` (verified on read)."""
    with ws.db.read() as s:
        asset, row = store.resolve(s, ref, "dataset")
        canonical = store.ref_of(s, "dataset", row)
        name, digest, shape, manifest = asset.name, row.digest, row.shape, row.manifest_digest
    if manifest is not None:
        raise ValidationError(
            f"{canonical} is partitioned; annotation reads single-file dataset versions "
            "(export the partitions and register the records to annotate as one file)",
            field="ref",
        )
    lines = ws.artifacts.read_bytes(digest).splitlines()
    records = [json.loads(line) for line in lines]
    return SourceRecords(canonical, name, digest, shape, lines, records)


def latest_annotation(ws: AnnotatingStore, ref: str) -> Evidence | None:
    """The newest ``annotation`` evidence of a version, if any."""
    with ws.db.read() as s:
        _, row = store.resolve(s, ref, "dataset")
        found = store.list_evidence(s, "dataset", row.id, KIND)
        for ev in found:
            s.expunge(ev)
    return found[-1] if found else None


@dataclass(frozen=True)
class Derived:
    """A dataset version to record: its records, shape, and the evidence about them."""

    name: str
    shape: str
    records: Sequence[Mapping[str, Any]]
    metrics: Mapping[str, Any]
    details: Mapping[str, Any]
    artifacts: Mapping[str, str]
    action: str


#: Runs inside the transaction that records a derived version, given its reference.
InTransaction = Callable[[Session, str], None]


def record_derived(
    ws: AnnotatingStore,
    source: SourceRecords,
    new: Derived,
    *,
    then: InTransaction | None = None,
) -> str:
    """Register ``new`` as the next version of ``new.name``, derived from ``source``, with
    its card, lineage, ``annotation`` evidence and the audit event ``new.action``, and run
    ``then`` in the same transaction: all or nothing. Returns the new version's reference."""
    tmp = ws.settings.home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="annotated-", suffix=".jsonl", dir=tmp)
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            for record in new.records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
        ingested = ingest_file(
            path, shape=new.shape, tmp_dir=tmp, max_record_bytes=ws.settings.max_record_bytes
        )
    finally:
        path.unlink(missing_ok=True)
    with ws.artifacts.lease(f"annotation-{new.name}"):
        try:
            info = ws.artifacts.put_file(ingested.path)
        finally:
            ingested.path.unlink(missing_ok=True)
        card = (ingested.card_metrics, ingested.card_details)
        return _commit(ws, source, new, (info.digest, info.size, ingested.records), card, then)


def _commit(
    ws: AnnotatingStore,
    source: SourceRecords,
    new: Derived,
    content: tuple[str, int, int],
    card: tuple[Mapping[str, Any], Mapping[str, Any]],
    then: InTransaction | None,
) -> str:
    audit = ws.audit_writer
    digest, size, count = content
    with ws.db.write() as s:
        _, parent = store.resolve(s, source.ref, "dataset")
        row = store.create_version(
            s,
            audit,
            asset_type="dataset",
            name=new.name,
            fields={
                "digest": digest,
                "size_bytes": size,
                "format": "jsonl",
                "shape": new.shape,
                "record_count": count,
                "meta": {"derived_by": new.action, "source": source.ref},
            },
        )
        store.attach_dataset_card(s, audit, version=row, digest=digest, card=card, stage=STAGE)
        store.add_lineage(
            s, audit, child_type="dataset", child=row, parent_type="dataset", parent=parent
        )
        store.attach_evidence(
            s,
            audit,
            asset_type="dataset",
            version=row,
            expected_digest=digest,
            kind=KIND,
            stage=STAGE,
            plugin=PLUGIN,
            metrics=new.metrics,
            details={"source": source.ref, **new.details},
            artifacts=new.artifacts,
        )
        ref = store.ref_of(s, "dataset", row)
        audit.record(s, new.action, ref, after={"source": source.ref, **dict(new.metrics)})
        if then is not None:
            then(s, ref)
        return ref
