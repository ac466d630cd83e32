"""The default artifact backend: a folder on the local filesystem.

Layout: ``<root>/blobs/sha256/<2 hex>/<62 hex>`` for content,
``<root>/tmp/`` for uploads in progress, ``<root>/leases/`` for writers
about to reference new blobs and ``<root>/records/`` for small named records
(audit checkpoints, never collected). An upload streams into a temporary file
in the same filesystem, is flushed and fsynced, then renamed onto its digest
path, so a crash leaves at worst a temporary file (swept by ``gc``), never a
partial blob.

Garbage collection deletes a blob only if no metadata references it, no live
lease names it and it was last written before the grace period. It reads the
leases before the references, moves each candidate aside, then reads the leases
again and puts back any blob a writer leased in the meantime (or touched: a
write of existing content refreshes its mtime).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import socket
import tempfile
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import unquote, urlparse

from lmops_core.artifacts.backend import (
    ArtifactBackend,
    ArtifactInfo,
    CollectReport,
    PutRequest,
)
from lmops_core.digests import CHUNK_SIZE, hex_part
from lmops_core.errors import (
    ConfigurationError,
    IntegrityError,
    NotFoundError,
    UnsafePathError,
    ValidationError,
)

if TYPE_CHECKING:
    from typing_extensions import Buffer  # the stdlib's collections.abc.Buffer is 3.12+

SCHEME = "local"
#: A lease held by a live process on this host is trusted this long without a write.
LEASE_MAX_SECONDS = 7 * 86400.0
_LEASE_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,120}")


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
    """Wraps a blob file; checks the digest once the whole content was read.

    It is a forward-only reader: every byte handed out passes through the hash, so
    seeking, writing and the raw file descriptor (which would bypass the check) are
    refused with ``io.UnsupportedOperation``.
    """

    def __init__(self, fh: BinaryIO, digest: str) -> None:
        self._fh = fh
        self._digest = digest
        self._hash = hashlib.sha256()
        self._checked = False
        self._position = 0

    def _seen(self, data: bytes, *, at_end: bool) -> bytes:
        self._hash.update(data)
        self._position += len(data)
        if at_end and not self._checked:
            self._checked = True
            if f"sha256:{self._hash.hexdigest()}" != self._digest:
                raise IntegrityError(
                    f"artifact {self._digest} is corrupt: its content no longer matches its digest",
                    digest=self._digest,
                )
        return data

    def read(self, n: int = -1) -> bytes:
        data = self._fh.read(n)
        return self._seen(data, at_end=not data or n < 0)

    def readline(self, limit: int = -1) -> bytes:
        line = self._fh.readline(limit)
        return self._seen(line, at_end=not line)

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while line := self.readline():
            lines.append(line)
            total += len(line)
            if 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self) -> None:
        self._fh.close()

    @property
    def closed(self) -> bool:
        return self._fh.closed

    @property
    def mode(self) -> str:
        return "rb"

    @property
    def name(self) -> str:
        return self._digest

    def __enter__(self) -> _VerifyingReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def isatty(self) -> bool:
        return False

    def tell(self) -> int:
        return self._position

    def flush(self) -> None:
        pass

    def seek(self, offset: int, whence: int = 0) -> int:
        raise io.UnsupportedOperation(f"artifact {self._digest} is read once, from the start")

    def fileno(self) -> int:
        raise io.UnsupportedOperation(
            f"artifact {self._digest} has no file descriptor (reads go through its digest check)"
        )

    def truncate(self, size: int | None = None) -> int:
        raise io.UnsupportedOperation(f"artifact {self._digest} is read-only")

    def write(self, data: Buffer, /) -> int:
        raise io.UnsupportedOperation(f"artifact {self._digest} is read-only")

    def writelines(self, lines: Iterable[Buffer], /) -> None:
        raise io.UnsupportedOperation(f"artifact {self._digest} is read-only")


#: Public name: another backend wraps its own byte stream in it to verify reads the same way.
VerifyingReader = _VerifyingReader


class LocalArtifactBackend(ArtifactBackend):
    """Content-addressed blobs in a local folder."""

    def __init__(self, root: Path, *, uri: str | None = None) -> None:
        self.root = root
        self.uri = uri or f"{SCHEME}://{root}"
        self._blobs = root / "blobs" / "sha256"
        self._tmp = root / "tmp"
        self._leases = root / "leases"
        self._records = root / "records"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._leases.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> Path:
        hx = hex_part(digest)  # validated: only hex digits reach the filesystem
        return self._blobs / hx[:2] / hx[2:]

    def write_stream(self, stream: BinaryIO, request: PutRequest) -> ArtifactInfo:
        lease = request.lease
        lease_path = self._lease_path(lease) if lease is not None else None
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
                    request.stored(len(chunk))
                digest = f"sha256:{h.hexdigest()}"
                request.check(digest)
                if lease_path is not None:
                    _append_line(lease_path, digest)
                final = self._path(digest)
                kept = final.exists() and _touch(final)
                if not kept:  # only a copy that becomes the blob needs to reach the disk
                    out.flush()
                    os.fsync(out.fileno())
            if kept:
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
            raise NotFoundError(
                f"artifact {digest} is not in the store at {self.uri}", digest=digest
            ) from None
        return _VerifyingReader(fh, digest)

    def exists(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self._path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFoundError(
                f"artifact {digest} is not in the store at {self.uri}", digest=digest
            ) from None

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
                stat = entry.stat()
                # ctime: a blob gc has just moved aside keeps its old mtime, not its ctime.
                if max(stat.st_mtime, stat.st_ctime) <= cutoff:
                    entry.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    # -- leases and garbage collection ------------------------------------------------

    def _lease_path(self, lease: str) -> Path:
        if not isinstance(lease, str) or _LEASE_ID_RE.fullmatch(lease) is None:
            raise ValidationError(f"invalid lease id {lease!r}", field="lease")
        path = self._leases / f"{lease}.lease"
        if not path.is_file():
            # Swept as abandoned while this writer was slow: hold it again rather than fail.
            with contextlib.suppress(FileExistsError):
                self._write_lease_header(path, lease)
        return path

    def _write_lease_header(self, path: Path, owner: str) -> None:
        header = json.dumps(
            {
                "owner": owner[:200],
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "opened": time.time(),
            }
        )
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(header + "\n")

    def open_lease(self, owner: str) -> str:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "-", owner)[:60] or "lease"
        lease = f"{safe}-{uuid.uuid4().hex}"
        self._write_lease_header(self._leases / f"{lease}.lease", owner)
        return lease

    def close_lease(self, lease: str) -> None:
        if not isinstance(lease, str) or _LEASE_ID_RE.fullmatch(lease) is None:
            raise ValidationError(f"invalid lease id {lease!r}", field="lease")
        with contextlib.suppress(FileNotFoundError):
            (self._leases / f"{lease}.lease").unlink()

    def live_leases(self, *, older_than_seconds: float) -> set[str]:
        owners: set[str] = set()
        now, host = time.time(), socket.gethostname()
        for path in self._leases.glob("*.lease"):
            try:
                age = now - path.stat().st_mtime
                with open(path, encoding="utf-8", errors="replace") as fh:
                    header = fh.readline()
            except FileNotFoundError:
                continue
            if _lease_alive([header], age, older_than_seconds, host):
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    owners.add(str(json.loads(header).get("owner")))
        return owners

    def _read_leases(self, older_than_seconds: float) -> tuple[set[str], list[Path]]:
        """Digests held by live leases, and the lease files that are abandoned."""
        now = time.time()
        host = socket.gethostname()
        held: set[str] = set()
        stale: list[Path] = []
        for path in self._leases.glob("*.lease"):
            try:
                age = now - path.stat().st_mtime
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            except FileNotFoundError:
                continue
            if not _lease_alive(lines[:1], age, older_than_seconds, host):
                stale.append(path)
                continue
            held.update(line.strip() for line in lines[1:] if line.startswith("sha256:"))
        return held, stale

    def collect_garbage(
        self,
        *,
        referenced: Callable[[], Collection[str]],
        older_than_seconds: float,
    ) -> CollectReport:
        cutoff = time.time() - older_than_seconds
        leased, stale = self._read_leases(older_than_seconds)
        refs = set(referenced())
        counts = {"kept_referenced": 0, "kept_recent": 0, "kept_leased": 0}
        aside: list[tuple[str, Path, Path, int]] = []
        for digest in list(self.iter_digests()):
            if digest in refs:
                counts["kept_referenced"] += 1
                continue
            if digest in leased:
                counts["kept_leased"] += 1
                continue
            path = self._path(digest)
            trash = self._tmp / f"gc-{hex_part(digest)}-{uuid.uuid4().hex[:8]}.trash"
            try:
                stat = path.stat()
                if stat.st_mtime > cutoff:
                    counts["kept_recent"] += 1
                    continue
                os.rename(path, trash)
            except FileNotFoundError:
                continue
            aside.append((digest, path, trash, stat.st_size))
        deleted = freed = 0
        if aside:
            leased_now, _ = self._read_leases(older_than_seconds)
            for digest, path, trash, size in aside:
                if digest in leased_now or trash.stat().st_mtime > cutoff:
                    with contextlib.suppress(FileExistsError):
                        os.link(trash, path)  # a writer may have stored it again meanwhile
                    trash.unlink()
                    counts["kept_leased"] += 1
                    continue
                trash.unlink()
                deleted += 1
                freed += size
        for path in stale:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return CollectReport(
            blobs_deleted=deleted, bytes_freed=freed, stale_leases=len(stale), **counts
        )

    def local_path(self, digest: str) -> Path:
        """The blob's file, for read-only use (hard-linking into a materialised folder)."""
        path = self._path(digest)
        if not path.is_file():
            raise NotFoundError(
                f"artifact {digest} is not in the store at {self.uri}", digest=digest
            )
        return path

    def _record_path(self, name: str) -> Path:
        if not _RECORD_NAME.fullmatch(name):
            raise UnsafePathError(
                f"record name {name!r} is not of the form a/b/c.json "
                "(lowercase letters, digits, . _ -)",
                name=name,
            )
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
        return sorted(
            f"{prefix.rstrip('/')}/{p.name}"
            for p in folder.iterdir()
            if p.is_file() and not p.name.startswith(".")
        )


_RECORD_NAME = re.compile(
    r"[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9_-]+)*"
    r"(?:/[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9_-]+)*)*"
)


def _append_line(path: Path, line: str) -> None:
    # O_APPEND: concurrent short appends land whole; the write also refreshes the mtime.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, (line + "\n").encode("ascii"))
    finally:
        os.close(fd)


def _touch(path: Path) -> bool:
    """Refresh a stored blob's mtime (it was just written again); False if it vanished."""
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    except OSError:
        return path.exists()  # not ours to touch (shared store): the lease still protects it
    return True


def _lease_alive(header: list[str], age: float, older_than_seconds: float, host: str) -> bool:
    if age <= older_than_seconds:
        return True
    try:
        info = json.loads(header[0]) if header else {}
        pid, lease_host = int(info["pid"]), str(info["host"])
    except (ValueError, KeyError, TypeError):
        return False
    if lease_host != host or age > LEASE_MAX_SECONDS:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
