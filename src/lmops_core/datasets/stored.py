"""Partitions left in the artifact store, read and written by a data engine's own workers.

With an object store (a backend whose :meth:`~lmops_core.artifacts.backend.ArtifactBackend.
worker_opener` says how another process opens it), a step on a cluster engine never brings a
partitioned input to the calling process's disk: each worker fetches the partition it works on
from the store through the store's own backend, which checks the digest as it reads, and
stores the partitions it writes, content-addressed. The calling process handles manifests
only: it plans from the input's manifest and assembles the output's (its Merkle root) from
the partitions the workers report.

A worker needs the store's credentials and endpoint: the engine forwards the environment
variables the opener names (:func:`worker_env`) to its workers' environment, never to a log.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lmops_core.artifacts.backend import ArtifactBackend, StoreOpener
from lmops_core.datasets.partitions import Partition, PartitionManifest
from lmops_core.digests import CHUNK_SIZE
from lmops_core.errors import IntegrityError, NotFoundError
from lmops_core.safepaths import join_inside

#: Backends this process opened, by URI: a worker opens its store once, not per partition.
_OPENED: dict[str, ArtifactBackend] = {}


def open_store(opener: StoreOpener) -> ArtifactBackend:
    """The backend ``opener`` opens, opened once per process."""
    backend = _OPENED.get(opener.uri)
    if backend is None:
        backend = _OPENED[opener.uri] = opener()
    return backend


def worker_env(opener: StoreOpener) -> dict[str, str]:
    """The variables of this process's environment a worker needs to open the store."""
    return {k: v for k, v in os.environ.items() if k.startswith(opener.env_prefixes)}


@dataclass(frozen=True)
class StoredPartition:
    """Partition ``part`` (in manifest order) of a version: its name and digest in the store."""

    part: int
    name: str
    digest: str
    opener: StoreOpener
    #: The run's artifact lease: what a worker stores from this partition joins it.
    lease: str | None = None


@dataclass(frozen=True)
class StoredDataset:
    """A partitioned input left in the artifact store: its manifest, how workers open the
    store, and the run's artifact lease (blobs the workers store join it, so ``lmops gc``
    leaves them alone until the run has committed)."""

    opener: StoreOpener
    manifest: PartitionManifest
    lease: str | None = None

    def partitions(self) -> list[StoredPartition]:
        """Every partition, in manifest order."""
        return [
            StoredPartition(i, p.name, p.digest, self.opener, self.lease)
            for i, p in enumerate(self.manifest.partitions)
        ]

    def export(self, dest: Path) -> Path:
        """Every partition fetched (verified) into the folder ``dest``, under its name."""
        for part in self.partitions():
            target = join_inside(dest, part.name, what="partition")
            target.parent.mkdir(parents=True, exist_ok=True)
            fetch_partition(part, target.parent).replace(target)
        return dest


def write_listing(path: Path, *, shape: str, partitions: Sequence[Partition]) -> PartitionManifest:
    """Write the manifest of the partitions a step's workers stored (in order) to ``path``:
    the step's output, which the runner checks and assembles into the version."""
    manifest = PartitionManifest(shape=shape, partitions=tuple(partitions))
    path.write_bytes(manifest.to_bytes())
    return manifest


def fetch_partition(part: StoredPartition, folder: Path) -> Path:
    """``part``'s bytes in a new file under ``folder``, their digest checked as they arrive.

    Stored bytes that do not match the digest raise :class:`IntegrityError` naming the
    partition (and no file is left); so does a partition missing from the store.
    """
    backend = open_store(part.opener)
    fd, name = tempfile.mkstemp(prefix="partition-", suffix=".parquet", dir=folder)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, backend.open(part.digest) as reader:
            shutil.copyfileobj(reader, out, CHUNK_SIZE)
    except IntegrityError:
        path.unlink(missing_ok=True)
        raise IntegrityError(
            f"partition {part.name} ({part.digest}) in the artifact store at {backend.uri}: "
            "its stored bytes do not match its digest",
            digest=part.digest,
            partition=part.name,
        ) from None
    except NotFoundError:
        path.unlink(missing_ok=True)
        raise NotFoundError(
            f"partition {part.name} ({part.digest}) is missing from the artifact store at "
            f"{backend.uri}",
            digest=part.digest,
            partition=part.name,
        ) from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


@contextmanager
def fetched(part: StoredPartition) -> Iterator[Path]:
    """``part`` fetched (verified) into a temporary file for the ``with`` block, then deleted."""
    path = fetch_partition(part, Path(tempfile.gettempdir()))
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def store_partition(
    opener: StoreOpener, path: Path, written: Partition, *, lease: str | None = None
) -> Partition:
    """Store the partition file ``path``, written as ``written`` (its name, rows and digest),
    content-addressed and joining ``lease``; ``written`` once the store holds those bytes.

    :class:`IntegrityError` when the stored bytes' digest is not ``written``'s: the file
    changed between writing and storing.
    """
    (info,) = open_store(opener).put_files([path], lease=lease)
    if info.digest != written.digest:
        raise IntegrityError(f"partition {written.name} changed while it was being stored")
    return written


@contextmanager
def scratch_file() -> Iterator[Path]:
    """A fresh temporary file path for one partition a worker writes, deleted afterwards."""
    fd, name = tempfile.mkstemp(prefix="partition-out-", suffix=".parquet")
    os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)
