"""The interface every artifact backend implements.

Artifacts are immutable blobs named by the SHA-256 digest of their content.
A backend must never expose a partially written blob under a digest, must
verify content on read, and must never map a digest or user-given name to a
location outside its own storage.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from lmops_core.digests import parse_digest
from lmops_core.errors import IntegrityError

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class PutRequest:
    """How one :meth:`ArtifactBackend.put_stream` call asked for its content to be stored.

    ``expected_digest`` (already well formed when a backend sees it) is the digest the content
    must have; ``progress`` is called with each number of bytes stored; ``lease`` names the
    writer's lease the digest joins before the blob is looked up or published.
    """

    expected_digest: str | None = None
    progress: ProgressCallback | None = None
    lease: str | None = None

    def stored(self, n: int) -> None:
        """Report ``n`` more bytes stored (nothing for an empty piece or no callback)."""
        if self.progress is not None and n:
            self.progress(n)

    def check(self, digest: str) -> None:
        """Refuse content whose digest is not the expected one (``IntegrityError``)."""
        if self.expected_digest is not None and digest != self.expected_digest:
            raise IntegrityError(
                f"upload does not match its expected digest: got {digest}, "
                f"expected {self.expected_digest}",
                digest=digest,
            )


@dataclass(frozen=True)
class ArtifactInfo:
    """A stored blob: its digest, size in bytes, and whether this write created it."""

    digest: str
    size: int
    created: bool = False


@dataclass(frozen=True)
class CollectReport:
    """What one garbage collection did: blobs and bytes freed, and what it kept and why."""

    blobs_deleted: int = 0
    bytes_freed: int = 0
    kept_referenced: int = 0
    kept_recent: int = 0
    kept_leased: int = 0
    stale_leases: int = 0


class ArtifactBackend(abc.ABC):
    """Abstract content-addressed blob storage; subclasses implement every abstract method."""

    #: The URI this backend was opened with.
    uri: str

    def put_stream(
        self,
        stream: BinaryIO,
        *,
        expected_digest: str | None = None,
        progress: ProgressCallback | None = None,
        lease: str | None = None,
    ) -> ArtifactInfo:
        """Store everything read from ``stream``; return its digest.

        Reads in fixed-size chunks (constant memory). If ``expected_digest``
        is given and the content differs, nothing is stored and
        :class:`~lmops_core.errors.IntegrityError` is raised. With ``lease``,
        the digest is added to that lease *before* the blob is looked up or
        published, so a concurrent :meth:`collect_garbage` cannot delete it
        between this write and the metadata that will reference it. Storing
        content that is already present refreshes the blob's age.
        """
        if expected_digest is not None:
            parse_digest(expected_digest)
        return self.write_stream(stream, PutRequest(expected_digest, progress, lease))

    def put_files(
        self,
        paths: Sequence[Path],
        *,
        progress: ProgressCallback | None = None,
        lease: str | None = None,
    ) -> list[ArtifactInfo]:
        """Store each file as :meth:`put_stream` does, in order; their infos in the same order."""
        return self.write_files(paths, PutRequest(None, progress, lease))

    def write_files(self, paths: Sequence[Path], request: PutRequest) -> list[ArtifactInfo]:
        """Store the files as :meth:`put_files` promises, for the request it was given.

        A backend may overlap the work on consecutive files (an object store hashes the
        next file while this one is sent); this one stores them one after the other.
        """
        infos = []
        for path in paths:
            with open(path, "rb") as fh:
                infos.append(self.write_stream(fh, request))
        return infos

    @abc.abstractmethod
    def write_stream(self, stream: BinaryIO, request: PutRequest) -> ArtifactInfo:
        """Store ``stream`` as :meth:`put_stream` promises, for the request it was given."""

    @abc.abstractmethod
    def open(self, digest: str) -> BinaryIO:
        """A reader of the blob that raises ``IntegrityError`` at end of stream
        if the bytes read do not hash to ``digest``; ``NotFoundError`` if absent."""

    @abc.abstractmethod
    def exists(self, digest: str) -> bool:
        """Whether a complete blob with this digest is stored."""

    @abc.abstractmethod
    def size(self, digest: str) -> int:
        """Size in bytes of a stored blob; ``NotFoundError`` if absent."""

    @abc.abstractmethod
    def iter_digests(self) -> Iterator[str]:
        """Every stored digest, in no particular order."""

    @abc.abstractmethod
    def sweep_temporary(self, *, older_than_seconds: float = 0.0) -> int:
        """Delete abandoned temporary uploads; return how many were removed."""

    @abc.abstractmethod
    def open_lease(self, owner: str) -> str:
        """Start a lease (a writer about to reference new blobs); return its id."""

    @abc.abstractmethod
    def close_lease(self, lease: str) -> None:
        """End a lease: its blobs are referenced by committed metadata, or abandoned."""

    @abc.abstractmethod
    def live_leases(self, *, older_than_seconds: float) -> set[str]:
        """The owners of the leases still held (what ``open_lease`` was given)."""

    @abc.abstractmethod
    def collect_garbage(
        self,
        *,
        referenced: Callable[[], Collection[str]],
        older_than_seconds: float,
    ) -> CollectReport:
        """Delete blobs that nothing references, that no live lease holds, and that
        were last written more than ``older_than_seconds`` ago.

        ``referenced`` is called after the live leases have been read, so a writer
        that commits its metadata and closes its lease in between is still seen.
        """

    def verify(self, digest: str) -> bool:
        """Re-hash a stored blob; ``False`` if its content no longer matches."""
        from lmops_core.digests import CHUNK_SIZE
        from lmops_core.errors import IntegrityError

        with self.open(digest) as reader:
            try:
                while reader.read(CHUNK_SIZE):
                    pass
            except IntegrityError:
                return False
        return True

    # Named records: small mutable documents kept beside the blobs (audit
    # checkpoints). Not abstract, so older third-party backends still load;
    # they refuse, and governance that needs records fails closed.

    def put_record(self, name: str, data: bytes) -> None:
        """Write or atomically replace the small record ``name`` (``a/b/c.json``)."""
        from lmops_core.errors import ConfigurationError

        raise ConfigurationError(f"the artifact backend at {self.uri} keeps no named records")

    def read_record(self, name: str) -> bytes | None:
        """The record's bytes, or ``None`` if there is none."""
        return None

    def list_records(self, prefix: str) -> list[str]:
        """Names of the records directly under the folder ``prefix``, sorted."""
        return []

    # Opening the same store from another process (a data engine's workers).

    def worker_opener(self) -> StoreOpener | None:
        """How a worker process opens this store, or ``None`` (the default) when workers
        should not: then the calling process brings the data to local disk for them."""
        return None


@runtime_checkable
class StoreOpener(Protocol):
    """How another process (a data engine's worker) opens the artifact store at ``uri``.

    It must be picklable. ``env_prefixes`` name the environment variables the backend reads
    there (credentials, endpoint, its settings): an engine forwards to its workers those
    set in the calling process, in their environment, never in a log or in evidence.
    """

    uri: str
    env_prefixes: tuple[str, ...]

    def __call__(self) -> ArtifactBackend:
        """The backend, opened in this process."""
        ...
