"""The interface every artifact backend implements.

Artifacts are immutable blobs named by the SHA-256 digest of their content.
A backend must never expose a partially written blob under a digest, must
verify content on read, and must never map a digest or user-given name to a
location outside its own storage.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class ArtifactInfo:
    """A stored blob: its digest, size in bytes, and whether this write created it."""

    digest: str
    size: int
    created: bool = False


class ArtifactBackend(abc.ABC):
    """Abstract content-addressed blob storage; subclasses must implement every method."""

    #: The URI this backend was opened with.
    uri: str

    @abc.abstractmethod
    def put_stream(
        self,
        stream: BinaryIO,
        *,
        expected_digest: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> ArtifactInfo:
        """Store everything read from ``stream``; return its digest.

        Reads in fixed-size chunks (constant memory). If ``expected_digest``
        is given and the content differs, nothing is stored and
        :class:`~lmops_core.errors.IntegrityError` is raised.
        """

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
    def verify(self, digest: str) -> bool:
        """Re-hash a stored blob; ``False`` if its content no longer matches."""

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
