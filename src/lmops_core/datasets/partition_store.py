"""Storing and verifying partitioned dataset versions, partition by partition.

:func:`ingest_partitions` validates each source partition, writes its canonical form and
stores it as an artifact before reading the next (disk and memory: one partition), builds
each partition's card and merges it into the version's, then stores the manifest. The caller
holds an artifact lease and commits the version afterwards: if anything fails midway, no
version exists and the partitions already stored are left to ``lmops gc``.

:func:`verify_partitions` re-hashes every partition (in parallel: each is independent) and
names each one that is missing or changed, after checking the manifest against the digest.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lmops_core.artifacts.store import ArtifactStore
from lmops_core.datasets.card import CardBuilder
from lmops_core.datasets.ingest import CanonicalRecords, Ingested
from lmops_core.datasets.partitions import (
    Partition,
    PartitionManifest,
    PartitionWriter,
    partition_files,
)
from lmops_core.datasets.readers import DEFAULT_MAX_RECORD_BYTES
from lmops_core.errors import IntegrityError, NotFoundError, ValidationError


@dataclass(frozen=True, kw_only=True)
class PartitionedIngest(Ingested):
    """A partitioned version stored: its root, manifest artifact, counts and merged card."""

    root: str
    manifest_digest: str
    manifest: PartitionManifest

    @property
    def size_bytes(self) -> int:
        return self.manifest.size


def ingest_partitions(
    folder: Path,
    *,
    shape: str,
    artifacts: ArtifactStore,
    tmp_dir: Path,
    drop_invalid: bool = False,
    token_counter: Callable[[str], int] | None = None,
    progress: Callable[[int], None] | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> PartitionedIngest:
    """Validate and store every partition of ``folder``, then its manifest (see the module)."""
    checker = CanonicalRecords(
        shape=shape, drop_invalid=drop_invalid, max_record_bytes=max_record_bytes
    )
    card = CardBuilder(shape, token_counter)
    stored: list[Partition] = []
    summaries: list[dict[str, Any]] = []
    for name, path in partition_files(folder):
        part_card = CardBuilder(shape, token_counter)
        partition = _store_partition(name, path, checker, part_card, artifacts, tmp_dir)
        stored.append(partition)
        summaries.append(
            {
                "name": name,
                "records": part_card.records,
                "duplicates": part_card.duplicates,
                "chars_mean": part_card.details()["chars"]["mean"],
            }
        )
        card.merge(part_card)
        if progress is not None:
            progress(path.stat().st_size)
    if card.records == 0:
        raise ValidationError(f"{folder.name}: no valid records", file=str(folder))
    manifest = PartitionManifest(shape=shape, partitions=tuple(stored))
    manifest_info = artifacts.put_bytes(manifest.to_bytes())
    root = manifest.root
    details = card.details()
    details["partitions"] = summaries
    return PartitionedIngest(
        root=root,
        manifest_digest=manifest_info.digest,
        manifest=manifest,
        records=manifest.records,
        dropped=checker.dropped,
        dropped_examples=checker.examples,
        card_metrics=card.metrics(root),
        card_details=details,
    )


def _store_partition(
    name: str,
    source: Path,
    checker: CanonicalRecords,
    card: CardBuilder,
    artifacts: ArtifactStore,
    tmp_dir: Path,
) -> Partition:
    fd, tmp_name = tempfile.mkstemp(prefix="partition-", suffix=".parquet", dir=tmp_dir)
    os.close(fd)
    out = Path(tmp_name)
    try:
        writer = PartitionWriter(out)
        try:
            for body, record in _named(name, source, checker):
                writer.add(body)
                card.add(body, checker.texts(record))
        except BaseException:
            writer.abort()
            raise
        written = writer.close(name)
        info = artifacts.put_file(out)
    finally:
        out.unlink(missing_ok=True)
    if info.digest != written.digest:  # the file changed between hashing and storing
        raise IntegrityError(f"partition {name} changed while it was being stored")
    return written


def _named(name: str, source: Path, checker: CanonicalRecords) -> Iterator[tuple[bytes, Any]]:
    """The checker's records of one partition; a nested partition's errors carry its path."""
    try:
        yield from checker.read(source, "parquet")
    except ValidationError as exc:
        if name == source.name:
            raise
        raise ValidationError(f"partition {name}: {exc}", file=str(source)) from None


PartitionStatus = Literal["ok", "changed", "missing"]
#: Most partitions hashed at once by :func:`verify_partitions`.
MAX_VERIFY_WORKERS = 64


@dataclass(frozen=True)
class PartitionCheck:
    """What verification found for one partition (its name and digest as recorded)."""

    partition: Partition
    status: PartitionStatus

    @property
    def name(self) -> str:
        return self.partition.name

    @property
    def digest(self) -> str:
        return self.partition.digest


@dataclass(frozen=True)
class PartitionsVerified:
    """The result of verifying a partitioned version; ``ok`` only if every partition is."""

    root: str
    partitions: list[PartitionCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(p.status == "ok" for p in self.partitions)

    @property
    def bad(self) -> list[PartitionCheck]:
        return [p for p in self.partitions if p.status != "ok"]


def load_manifest(
    artifacts: ArtifactStore, manifest_digest: str, *, root: str
) -> PartitionManifest:
    """Read the manifest (verified by its digest) and check that its Merkle root is ``root``."""
    manifest = PartitionManifest.from_bytes(
        artifacts.read_bytes(manifest_digest), digest=manifest_digest
    )
    if manifest.root != root:
        raise IntegrityError(
            f"partition manifest {manifest_digest}: its Merkle root {manifest.root} is not the "
            f"version's digest {root}"
        )
    return manifest


def verify_partitions(
    artifacts: ArtifactStore, manifest_digest: str, *, root: str, workers: int = 4
) -> PartitionsVerified:
    """Re-hash each partition (``workers`` at a time) and report each one's status."""
    if not 1 <= workers <= MAX_VERIFY_WORKERS:
        raise ValidationError(
            f"workers must be between 1 and {MAX_VERIFY_WORKERS}, got {workers}", field="workers"
        )
    manifest = load_manifest(artifacts, manifest_digest, root=root)

    def check(p: Partition) -> PartitionCheck:
        try:
            good = artifacts.backend.verify(p.digest)
        except NotFoundError:
            return PartitionCheck(p, "missing")
        return PartitionCheck(p, "ok" if good else "changed")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        checks = list(pool.map(check, manifest.partitions))
    return PartitionsVerified(root=root, partitions=checks)
