"""Storing and verifying partitioned dataset versions, partition by partition.

:func:`ingest_partitions` validates each source partition, writes its canonical form and
stores it as an artifact before reading the next (disk and memory: one partition), builds
each partition's card and merges it into the version's, then stores the manifest. The caller
holds an artifact lease and commits the version afterwards: if anything fails midway, no
version exists and the partitions already stored are left to ``lmops gc``.
:func:`ingest_stored_partitions` does the same for partitions a cluster engine's workers
already stored (:mod:`.stored`): the workers fetch, check and card them; this process only
merges the cards and assembles the manifest.

:func:`verify_partitions` re-hashes every partition (in parallel: each is independent) and
names each one that is missing or changed, after checking the manifest against the digest.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lmops_core.artifacts.store import ArtifactStore
from lmops_core.datasets.card import CardBuilder
from lmops_core.datasets.ingest import MAX_REPORTED, CanonicalRecords, Ingested
from lmops_core.datasets.partitions import (
    Partition,
    PartitionManifest,
    PartitionWriter,
    partition_files,
)
from lmops_core.datasets.readers import DEFAULT_MAX_RECORD_BYTES
from lmops_core.datasets.stored import (
    StoredDataset,
    StoredPartition,
    fetched,
    scratch_file,
    store_partition,
    worker_env,
)
from lmops_core.errors import IntegrityError, NotFoundError, ValidationError
from lmops_core.runtimes import ChunkMapper, Ready, map_planned


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
    mapper: ChunkMapper | None = None,
) -> PartitionedIngest:
    """Validate and store every partition of ``folder``, then its manifest (see the module).

    With a ``mapper`` (a data engine), each partition is validated, written in canonical
    form and given its card on the engine's workers (one partition per chunk; ``tmp_dir``
    must be a folder they can write), while this process stores the partitions and merges
    the cards in partition order: the version, its digest and its card are the same as
    without one. ``token_counter`` must then be picklable.
    """
    check = ValidatePartition(
        shape=shape,
        drop_invalid=drop_invalid,
        max_record_bytes=max_record_bytes,
        token_counter=token_counter,
    )
    work = [
        (name, str(path), str(_scratch_file(tmp_dir))) for name, path in partition_files(folder)
    ]

    def stored() -> Generator[ValidatedPartition]:
        try:
            # Every partition is known up front: an engine that plans listed work (Ray Data)
            # runs the checks as one pipeline.
            chunks = [[item] for item in work]
            results = map_planned(mapper, Ready(check), chunks) if mapper else map(check, chunks)
            for (_, source, out), (checked,) in zip(work, results, strict=True):
                _store_checked(checked, Path(out), artifacts)
                yield checked
                if progress is not None:
                    progress(Path(source).stat().st_size)
        finally:
            for _, _, out in work:
                Path(out).unlink(missing_ok=True)

    checked = stored()
    try:
        return _assemble(folder.name, str(folder), shape, token_counter, checked, artifacts)
    finally:
        checked.close()  # its scratch files go now, even when assembling failed


def ingest_stored_partitions(
    listing: Path,
    *,
    shape: str,
    artifacts: ArtifactStore,
    mapper: ChunkMapper,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> PartitionedIngest:
    """:func:`ingest_partitions` for partitions a step's workers already stored.

    ``listing`` is the step's partition manifest (its partitions, in order, already in the
    store). On ``mapper``'s workers each one is fetched (its digest checked), validated,
    written in canonical form and stored (the same bytes, unless the step wrote another
    form) and given its card; this process merges the cards in order and assembles and
    stores the version's manifest, whose Merkle root is the version's digest.
    """
    opener = artifacts.backend.worker_opener()
    if opener is None:
        raise IntegrityError(
            f"{listing.name} lists partitions in the artifact store, but the store at "
            f"{artifacts.uri} cannot be opened by workers"
        )
    written = PartitionManifest.from_bytes(listing.read_bytes(), digest=listing.name)
    check = ValidateStored(
        ValidatePartition(shape=shape, drop_invalid=False, max_record_bytes=max_record_bytes)
    )
    stored = StoredDataset(opener, written, lease=artifacts.current_lease())
    chunks = [[part] for part in stored.partitions()]
    results = map_planned(mapper, Ready(check), chunks, env=worker_env(opener))
    checked = (one for (one,) in results)
    return _assemble(listing.name, str(listing), shape, None, checked, artifacts)


def _assemble(
    label: str,
    where: str,
    shape: str,
    token_counter: Callable[[str], int] | None,
    checked: Iterable[ValidatedPartition],
    artifacts: ArtifactStore,
) -> PartitionedIngest:
    """Merge the partitions' cards in order, then store the manifest (the Merkle root)."""
    card = CardBuilder(shape, token_counter)
    dropped, examples = 0, list[str]()
    stored: list[Partition] = []
    summaries: list[dict[str, Any]] = []
    for one in checked:
        stored.append(one.partition)
        part_card = one.card
        summaries.append(
            {
                "name": one.partition.name,
                "records": part_card.records,
                "duplicates": part_card.duplicates,
                "chars_mean": part_card.details()["chars"]["mean"],
            }
        )
        card.merge(part_card)
        dropped += one.dropped
        examples = (examples + one.examples)[:MAX_REPORTED]
    if card.records == 0:
        raise ValidationError(f"{label}: no valid records", file=where)
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
        dropped=dropped,
        dropped_examples=examples,
        card_metrics=card.metrics(root),
        card_details=details,
    )


def _scratch_file(tmp_dir: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix="partition-", suffix=".parquet", dir=tmp_dir)
    os.close(fd)
    return Path(name)


@dataclass(frozen=True)
class ValidatedPartition:
    """One partition validated and written in canonical form: what it holds, and its card."""

    partition: Partition
    card: CardBuilder
    dropped: int
    examples: list[str]


@dataclass(frozen=True)
class ValidatePartition:
    """The per-partition work of :func:`ingest_partitions`, run where the engine runs it.

    Called on a chunk of ``(name, source path, output path)`` items, it validates each
    source partition, writes its canonical form to the output path and builds its card.
    """

    shape: str
    drop_invalid: bool
    max_record_bytes: int
    token_counter: Callable[[str], int] | None = None

    def __call__(self, chunk: list[tuple[str, str, str]]) -> list[ValidatedPartition]:
        return [self.one(name, Path(source), Path(out)) for name, source, out in chunk]

    def one(self, name: str, source: Path, out: Path) -> ValidatedPartition:
        """Validate ``source`` (partition ``name``) into the canonical partition ``out``."""
        checker = CanonicalRecords(
            shape=self.shape, drop_invalid=self.drop_invalid, max_record_bytes=self.max_record_bytes
        )
        card = CardBuilder(self.shape, self.token_counter)
        writer = PartitionWriter(out)
        try:
            for body, record in _named(name, source, checker):
                writer.add(body)
                card.add(body, checker.texts(record))
        except BaseException:
            writer.abort()
            raise
        return ValidatedPartition(writer.close(name), card, checker.dropped, checker.examples)


@dataclass(frozen=True)
class ValidateStored:
    """:class:`ValidatePartition` on partitions in the artifact store, where the engine runs
    it: each is fetched (digest checked), validated, and its canonical form stored."""

    check: ValidatePartition

    def __call__(self, chunk: list[StoredPartition]) -> list[ValidatedPartition]:
        return [self.one(part) for part in chunk]

    def one(self, part: StoredPartition) -> ValidatedPartition:
        """Validate ``part`` and store its canonical form under its own digest."""
        with fetched(part) as source, scratch_file() as out:
            checked = self.check.one(part.name, source, out)
            store_partition(part.opener, out, checked.partition, lease=part.lease)
        return checked


def _store_checked(checked: ValidatedPartition, out: Path, artifacts: ArtifactStore) -> Partition:
    info = artifacts.put_file(out)
    out.unlink(missing_ok=True)
    if info.digest != checked.partition.digest:  # the file changed between hashing and storing
        raise IntegrityError(
            f"partition {checked.partition.name} changed while it was being stored"
        )
    return checked.partition


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
