"""The artifact store facade: files and folders in, verified files and folders out.

A folder (a model with its config, tokenizer and weights) is stored as one
blob per file plus a *tree manifest* blob listing each relative path with its
digest and size; the manifest's digest names the folder. Member paths are
validated with :mod:`lmops_core.safepaths` on the way in and on the way out.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Collection, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from lmops_core.artifacts.backend import ArtifactBackend, ArtifactInfo, CollectReport
from lmops_core.digests import CHUNK_SIZE, parse_digest
from lmops_core.errors import IntegrityError, UnsafePathError, ValidationError
from lmops_core.safepaths import join_inside, safe_relative_path
from lmops_core.weights import check_files

TREE_FORMAT = "lmops.tree/1"
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class TreeEntry:
    """One file of a stored folder."""

    path: str
    digest: str
    size: int


@dataclass(frozen=True)
class TreeManifest:
    """The content of a stored folder, itself stored as a blob."""

    entries: tuple[TreeEntry, ...]

    def to_bytes(self) -> bytes:
        body = {
            "format": TREE_FORMAT,
            "entries": [
                {"path": e.path, "digest": e.digest, "size": e.size}
                for e in sorted(self.entries, key=lambda e: e.path)
            ],
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes, *, digest: str) -> TreeManifest:
        try:
            body = json.loads(data)
            if body.get("format") != TREE_FORMAT:
                raise ValueError("not a tree manifest")
            entries = tuple(
                TreeEntry(
                    path=str(safe_relative_path(e["path"], what="tree member")),
                    digest=parse_digest(e["digest"]),
                    size=int(e["size"]),
                )
                for e in body["entries"]
            )
        except UnsafePathError:
            raise
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            raise IntegrityError(
                f"artifact {digest} is not a valid folder manifest: {exc}"
            ) from exc
        return cls(entries=entries)

    @property
    def total_size(self) -> int:
        return sum(e.size for e in self.entries)


class ArtifactStore:
    """Stores and retrieves files and folders through one backend."""

    def __init__(self, backend: ArtifactBackend) -> None:
        self.backend = backend
        self._lease: ContextVar[str | None] = ContextVar(f"lease-{id(self)}", default=None)

    @property
    def uri(self) -> str:
        return self.backend.uri

    @contextlib.contextmanager
    def lease(self, owner: str) -> Iterator[str]:
        """Hold every blob stored inside the block until it ends (nested blocks share one).

        Wrap "store blobs, then commit the metadata that references them" in a
        lease: ``gc`` never deletes a leased blob, whatever its age.
        """
        current = self._lease.get()
        if current is not None:
            yield current
            return
        lease = self.backend.open_lease(owner)
        token = self._lease.set(lease)
        try:
            yield lease
        finally:
            self._lease.reset(token)
            self.backend.close_lease(lease)

    def current_lease(self) -> str | None:
        """The lease held by the enclosing :meth:`lease` block, if any: a worker process
        that stores blobs for the same commit joins it (``put_stream(..., lease=...)``)."""
        return self._lease.get()

    def put_record(self, name: str, data: bytes) -> None:
        """Write or replace a small named record (see :meth:`ArtifactBackend.put_record`)."""
        self.backend.put_record(name, data)

    def read_record(self, name: str) -> bytes | None:
        """A named record's bytes, or ``None``."""
        return self.backend.read_record(name)

    def list_records(self, prefix: str) -> list[str]:
        """Names of the records directly under ``prefix``."""
        return self.backend.list_records(prefix)

    def put_file(self, path: Path, *, progress: ProgressCallback | None = None) -> ArtifactInfo:
        """Store one file, streaming."""
        with open(path, "rb") as fh:
            return self.backend.put_stream(fh, progress=progress, lease=self._lease.get())

    def put_files(
        self, paths: list[Path], *, progress: ProgressCallback | None = None
    ) -> list[ArtifactInfo]:
        """Store several files, streaming, in order (a backend may overlap their work)."""
        return self.backend.put_files(paths, progress=progress, lease=self._lease.get())

    def put_bytes(self, data: bytes) -> ArtifactInfo:
        """Store a small in-memory blob (manifests, evidence reports)."""
        return self.backend.put_stream(io.BytesIO(data), lease=self._lease.get())

    def put_json(self, value: Any) -> ArtifactInfo:
        """Store a JSON document in canonical form."""
        return self.put_bytes(
            json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()
        )

    def put_tree(
        self,
        folder: Path,
        *,
        allow_pickle: bool = False,
        progress: ProgressCallback | None = None,
        accepted_unsafe: list[dict[str, str]] | None = None,
    ) -> tuple[ArtifactInfo, TreeManifest]:
        """Store every regular file under ``folder``; return the manifest's blob.

        Symbolic and hard links are refused (they could point anywhere), and so
        is every file that is not an inert format (see :mod:`lmops_core.weights`)
        unless ``allow_pickle``; files accepted only because of it are appended
        to ``accepted_unsafe``. A refused folder stores nothing, and the bytes
        checked are the bytes stored: a file changed during the call is caught,
        or never read.
        """
        files = list(_walk_regular_files(folder))
        if not files:
            raise ValidationError(f"folder {folder} holds no files to store", file=str(folder))
        local_path = getattr(self.backend, "local_path", None)
        if callable(local_path):
            # Checked twice: the folder first, so a refused folder stores nothing; then the
            # stored, immutable blobs, so a file swapped after the first check is caught too.
            check_files(files, folder=str(folder), allow_pickle=allow_pickle)
            entries = self._put_files(files, progress)
            stored = [(e.path, Path(local_path(e.digest))) for e in entries]
            unsafe = check_files(stored, folder=str(folder), allow_pickle=allow_pickle)
        else:
            # A remote store's blobs are not read back (gigabytes over the network): the
            # files are copied once into a private folder, and that copy, which nothing else
            # writes, is checked, then stored.
            with tempfile.TemporaryDirectory(prefix="lmops-copy-") as scratch:
                copies = [
                    (rel, _private_copy(path, Path(scratch) / str(i)))
                    for i, (rel, path) in enumerate(files)
                ]
                unsafe = check_files(copies, folder=str(folder), allow_pickle=allow_pickle)
                entries = self._put_files(copies, progress)
        if accepted_unsafe is not None:
            accepted_unsafe.extend(unsafe)
        manifest = TreeManifest(entries=tuple(entries))
        return self.put_bytes(manifest.to_bytes()), manifest

    def _put_files(
        self, files: list[tuple[str, Path]], progress: ProgressCallback | None
    ) -> list[TreeEntry]:
        infos = self.put_files([path for _, path in files], progress=progress)
        return [
            TreeEntry(path=rel, digest=info.digest, size=info.size)
            for (rel, _), info in zip(files, infos, strict=True)
        ]

    def read_bytes(self, digest: str) -> bytes:
        """The whole blob, verified (for small blobs only)."""
        with self.backend.open(parse_digest(digest)) as reader:
            return reader.read()

    def read_json(self, digest: str) -> Any:
        return json.loads(self.read_bytes(digest))

    def read_tree(self, digest: str) -> TreeManifest:
        return TreeManifest.from_bytes(self.read_bytes(digest), digest=digest)

    def open(self, digest: str) -> BinaryIO:
        return self.backend.open(parse_digest(digest))

    def export_file(self, digest: str, dest: Path) -> Path:
        """Write a blob to ``dest`` (streaming, verified); the file appears only when complete."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".partial")
        try:
            with self.backend.open(parse_digest(digest)) as reader, open(tmp, "wb") as out:
                while chunk := reader.read(CHUNK_SIZE):
                    out.write(chunk)
                reader.read()  # reaching EOF triggers the digest check
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def export_tree(self, digest: str, dest: Path) -> Path:
        """Recreate a stored folder under ``dest``; members cannot escape it."""
        manifest = self.read_tree(digest)
        dest.mkdir(parents=True, exist_ok=True)
        for entry in manifest.entries:
            target = join_inside(dest, entry.path, what="tree member")
            self.export_file(entry.digest, target)
        return dest

    def collect_garbage(
        self,
        *,
        referenced: Callable[[], tuple[Collection[str], Collection[str]]],
        older_than_seconds: float,
    ) -> CollectReport:
        """Delete unreferenced, unleased blobs older than ``older_than_seconds``.

        ``referenced()`` returns ``(blob digests, folder digests)`` that metadata
        points at; a folder keeps its manifest and every member file. A folder
        whose manifest cannot be read stops the collection before anything is
        deleted (its members are unknown, so none may go).
        """

        def closure() -> set[str]:
            blobs, trees = referenced()
            keep = set(blobs) | set(trees)
            for digest in set(trees):
                keep.update(e.digest for e in self.read_tree(digest).entries)
            return keep

        return self.backend.collect_garbage(
            referenced=closure, older_than_seconds=older_than_seconds
        )


def _walk_regular_files(folder: Path) -> Iterator[tuple[str, Path]]:
    if folder.is_symlink() or not folder.is_dir():
        raise ValidationError(f"{folder} is not a folder", file=str(folder))
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        base = Path(dirpath)
        for name in list(dirnames):
            if (base / name).is_symlink():
                raise UnsafePathError(f"refusing symbolic link {base / name} in {folder}")
        dirnames.sort()
        for name in sorted(filenames):
            path = base / name
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePathError(f"refusing symbolic link {path} in {folder}")
            if not stat.S_ISREG(st.st_mode):
                raise UnsafePathError(f"refusing {path} in {folder}: not a regular file")
            if st.st_nlink > 1:
                # A hard link is another name for a file that may live anywhere (/etc/shadow).
                raise UnsafePathError(
                    f"refusing hard link {path} in {folder}: the file has "
                    f"{st.st_nlink} names; copy it instead"
                )
            rel = path.relative_to(folder).as_posix()
            safe_relative_path(rel, what="file name")
            yield rel, path


def _private_copy(path: Path, dest: Path) -> Path:
    """Copy the regular file ``path`` to ``dest``, refusing it if it became a link meanwhile."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        source = os.open(path, flags)
    except OSError as exc:
        raise UnsafePathError(f"refusing {path}: it cannot be opened as a file ({exc})") from exc
    with open(source, "rb") as src, open(dest, "xb") as out:
        st = os.fstat(src.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            raise UnsafePathError(f"refusing {path}: it is no longer one regular file")
        try:  # in the kernel where it can (a reflink on filesystems that share blocks)
            while os.copy_file_range(src.fileno(), out.fileno(), 1 << 30):
                pass
        except (AttributeError, OSError):
            shutil.copyfileobj(src, out, CHUNK_SIZE)  # carries on from where it stopped
    return dest
