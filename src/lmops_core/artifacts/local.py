"""The default artifact backend: a folder on the local filesystem.

Layout: ``<root>/blobs/sha256/<2 hex>/<62 hex>`` for content and
``<root>/tmp/`` for uploads in progress; ``<root>/records/`` holds small named
records (audit checkpoints). An upload streams into a temporary
file in the same filesystem, is flushed and fsynced, then renamed onto its
digest path, so a crash leaves at worst a temporary file (swept by ``gc``),
never a partial blob.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from lmops_core.artifacts.backend import ArtifactBackend, ArtifactInfo, ProgressCallback
from lmops_core.digests import CHUNK_SIZE, hex_part, parse_digest
from lmops_core.errors import (
    ConfigurationError,
    IntegrityError,
    NotFoundError,
    UnsafePathError,
)

SCHEME = "local"


def root_from_uri(uri: str) -> Path:
    """The folder named by a ``local://`` URI (``local:///abs/path`` or ``local:///rel``)."""
    parsed = urlparse(uri)
    if parsed.scheme != SCHEME:
        raise ConfigurationError(f"not a local artifact URI: {uri!r}")
    path = unquote(parsed.netloc + parsed.path)
    if not path:
        raise ConfigurationError(f"local artifact URI names no folder: {uri!r}")
    return Path(path).expanduser()


class _VerifyingReader(BinaryIO):
    """Wraps a blob file; checks the digest once the whole content was read."""

    def __init__(self, fh: BinaryIO, digest: str) -> None:
        self._fh = fh
        self._digest = digest
        self._hash = hashlib.sha256()
        self._checked = False

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        self._hash.update(data)
        if (not data or n < 0) and not self._checked:
            self._checked = True
            if f"sha256:{self._hash.hexdigest()}" != self._digest:
                raise IntegrityError(
                    f"artifact {self._digest} is corrupt: its content no longer matches its digest",
                    digest=self._digest,
                )
        return data

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> _VerifyingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def readable(self) -> bool:
        return True


class LocalArtifactBackend(ArtifactBackend):
    """Content-addressed blobs in a local folder."""

    def __init__(self, root: Path, *, uri: str | None = None) -> None:
        self.root = root
        self.uri = uri or f"{SCHEME}://{root}"
        self._blobs = root / "blobs" / "sha256"
        self._tmp = root / "tmp"
        self._records = root / "records"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> Path:
        hx = hex_part(digest)  # validated: only hex digits reach the filesystem
        return self._blobs / hx[:2] / hx[2:]

    def put_stream(
        self,
        stream: BinaryIO,
        *,
        expected_digest: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> ArtifactInfo:
        if expected_digest is not None:
            parse_digest(expected_digest)
        fd, tmp_name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=self._tmp)
        tmp = Path(tmp_name)
        h = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK_SIZE):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
                    if progress is not None:
                        progress(len(chunk))
                out.flush()
                os.fsync(out.fileno())
            digest = f"sha256:{h.hexdigest()}"
            if expected_digest is not None and digest != expected_digest:
                raise IntegrityError(
                    f"upload does not match its expected digest: got {digest}, "
                    f"expected {expected_digest}",
                    digest=digest,
                )
            final = self._path(digest)
            if final.exists():
                tmp.unlink()
                return ArtifactInfo(digest=digest, size=size, created=False)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, 0o444)
            os.replace(tmp, final)
            _fsync_dir(final.parent)
            return ArtifactInfo(digest=digest, size=size, created=True)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def open(self, digest: str) -> BinaryIO:
        path = self._path(digest)
        try:
            fh = open(path, "rb")  # noqa: SIM115 - returned to the caller
        except FileNotFoundError:
            raise NotFoundError(f"artifact {digest} is not in the store at {self.uri}",
                                digest=digest) from None
        return _VerifyingReader(fh, digest)

    def exists(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self._path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFoundError(f"artifact {digest} is not in the store at {self.uri}",
                                digest=digest) from None

    def iter_digests(self) -> Iterator[str]:
        for sub in sorted(self._blobs.iterdir()):
            if sub.is_dir() and len(sub.name) == 2:
                for blob in sub.iterdir():
                    yield f"sha256:{sub.name}{blob.name}"

    def sweep_temporary(self, *, older_than_seconds: float = 0.0) -> int:
        cutoff = time.time() - older_than_seconds
        removed = 0
        for entry in self._tmp.iterdir():
            try:
                if entry.stat().st_mtime <= cutoff:
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def verify(self, digest: str) -> bool:
        with self.open(digest) as reader:
            try:
                while reader.read(CHUNK_SIZE):
                    pass
            except IntegrityError:
                return False
        return True

    def local_path(self, digest: str) -> Path:
        """The blob's file, for read-only use (hard-linking into a materialised folder)."""
        path = self._path(digest)
        if not path.is_file():
            raise NotFoundError(f"artifact {digest} is not in the store at {self.uri}",
                                digest=digest)
        return path


    def _record_path(self, name: str) -> Path:
        if not _RECORD_NAME.fullmatch(name):
            raise UnsafePathError(f"record name {name!r} is not of the form a/b/c.json "
                                  "(lowercase letters, digits, . _ -)", name=name)
        return self._records / name

    def put_record(self, name: str, data: bytes) -> None:
        path = self._record_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".record-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise
        _fsync_dir(path.parent)

    def read_record(self, name: str) -> bytes | None:
        try:
            return self._record_path(name).read_bytes()
        except FileNotFoundError:
            return None

    def list_records(self, prefix: str) -> list[str]:
        folder = self._record_path(prefix.rstrip("/"))
        if not folder.is_dir():
            return []
        return sorted(f"{prefix.rstrip('/')}/{p.name}" for p in folder.iterdir()
                      if p.is_file() and not p.name.startswith("."))


_RECORD_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9_-]+)*"
                          r"(?:/[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9_-]+)*)*")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
