"""Contract every artifact backend must meet; run against each backend lmops ships.

The S3 backend runs against a real S3-protocol server (moto's, over HTTP on
loopback, one per test process), each test under a prefix of its own.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lmops_s3.backend import S3ArtifactBackend
from lmops_s3.testing import shared_server

from lmops_core.artifacts.backend import ArtifactBackend
from lmops_core.artifacts.local import LocalArtifactBackend
from lmops_core.digests import digest_bytes
from lmops_core.errors import IntegrityError, NotFoundError, ValidationError

BACKENDS = ["local", "s3"]
MiB = 1 << 20


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactBackend]:
    if request.param == "local":
        yield LocalArtifactBackend(tmp_path / "store")
    else:
        server = shared_server()
        settings = server.settings(part_size_mib=5, max_concurrency=2)
        yield S3ArtifactBackend.connect(server.fresh_uri(), settings, session=server.session())


def _overwrite(backend: ArtifactBackend, digest: str, data: bytes) -> None:
    """Change a stored blob behind the backend's back (a disk or a bucket gone bad)."""
    if isinstance(backend, S3ArtifactBackend):
        key = backend.location.blob(digest)
        backend.client.put_object(Bucket=backend.location.bucket, Key=key, Body=data)
        return
    assert isinstance(backend, LocalArtifactBackend)
    blob = backend.local_path(digest)
    blob.chmod(0o644)
    blob.write_bytes(data)


def _make_old(backend: ArtifactBackend, digest: str) -> None:
    """Date a blob's last write two hours back."""
    old = time.time() - 7200
    if isinstance(backend, S3ArtifactBackend):
        key = backend.location.age_marker(digest)
        backend.client.put_object(Bucket=backend.location.bucket, Key=key, Body=repr(old).encode())
        return
    assert isinstance(backend, LocalArtifactBackend)
    os.utime(backend.local_path(digest), (old, old))


def _memory_bound(backend: ArtifactBackend) -> int:
    """What a streaming upload may hold: a few chunks, or the parts an S3 upload has in flight."""
    if isinstance(backend, S3ArtifactBackend):
        return (backend.max_concurrency + 2) * backend.part_size + 8 * MiB
    return 8 * MiB


def test_put_names_content_by_digest_and_dedupes(backend: ArtifactBackend) -> None:
    data = b"weights" * 1000
    first = backend.put_stream(io.BytesIO(data))
    second = backend.put_stream(io.BytesIO(data))
    assert first.digest == digest_bytes(data) and first.size == len(data)
    assert (first.created, second.created) == (True, False)
    assert list(backend.iter_digests()) == [first.digest]
    with backend.open(first.digest) as reader:
        assert reader.read() == data
    assert backend.size(first.digest) == len(data)
    assert backend.verify(first.digest)


def test_expected_digest_mismatch_stores_nothing(backend: ArtifactBackend) -> None:
    wrong = digest_bytes(b"something else")
    with pytest.raises(IntegrityError, match="does not match its expected digest"):
        backend.put_stream(io.BytesIO(b"content"), expected_digest=wrong)
    assert list(backend.iter_digests()) == []
    assert backend.sweep_temporary() == 0


@pytest.mark.parametrize(
    "bad",
    [
        "sha256:xyz",
        "SHA256:" + "a" * 64,
        "sha256:" + "A" * 64,
        "sha256:" + "a" * 63,
        "md5:" + "a" * 32,
        "sha256:../../" + "a" * 58,
        "sha256:" + "a" * 64 + "\n",
    ],
)
def test_digests_are_validated_exactly(backend: ArtifactBackend, bad: str) -> None:
    with pytest.raises(ValidationError, match="invalid digest"):
        backend.open(bad)
    with pytest.raises(ValidationError, match="invalid digest"):
        backend.exists(bad)


def test_missing_blob(backend: ArtifactBackend) -> None:
    absent = digest_bytes(b"never stored")
    assert not backend.exists(absent)
    with pytest.raises(NotFoundError, match=f"artifact {absent} is not in the store"):
        backend.open(absent)


def test_reads_verify_content(backend: ArtifactBackend, tmp_path: Path) -> None:
    info = backend.put_stream(io.BytesIO(b"original bytes"))
    _overwrite(backend, info.digest, b"tampered bytes")
    with pytest.raises(IntegrityError, match="is corrupt"), backend.open(info.digest) as r:
        r.read()
    assert not backend.verify(info.digest)


def test_reader_is_a_whole_binary_file_reader(backend: ArtifactBackend) -> None:
    # The reader is typed BinaryIO: line reads, iteration and tell work and are verified too.
    info = backend.put_stream(io.BytesIO(b"first\nsecond\nthird"))
    with backend.open(info.digest) as reader:
        assert (reader.readable(), reader.seekable(), reader.writable()) == (True, False, False)
        assert reader.readline() == b"first\n"
        assert reader.tell() == len(b"first\n")
        assert list(reader) == [b"second\n", b"third"]
        assert not reader.closed
    assert reader.closed
    with backend.open(info.digest) as reader:
        assert reader.readlines() == [b"first\n", b"second\n", b"third"]
    with backend.open(info.digest) as reader:
        with pytest.raises(io.UnsupportedOperation, match="read once, from the start"):
            reader.seek(0)
        with pytest.raises(io.UnsupportedOperation, match="read-only"):
            reader.write(b"x")
        with pytest.raises(io.UnsupportedOperation, match="no file descriptor"):
            reader.fileno()


def test_line_reads_verify_content(backend: ArtifactBackend) -> None:
    info = backend.put_stream(io.BytesIO(b"line one\nline two\n"))
    _overwrite(backend, info.digest, b"line one\nline 2!\n")
    with pytest.raises(IntegrityError, match="is corrupt"), backend.open(info.digest) as r:
        list(r)
    with pytest.raises(IntegrityError, match="is corrupt"), backend.open(info.digest) as r:
        r.readlines()


def test_streaming_write_uses_constant_memory(backend: ArtifactBackend) -> None:
    import tracemalloc

    class Source(io.RawIOBase):
        def __init__(self, total: int) -> None:
            self.left = total

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            n = min(self.left, 1 << 20 if n < 0 else n)
            self.left -= n
            return b"\xab" * n

    tracemalloc.start()
    info = backend.put_stream(Source(64 << 20))  # type: ignore[arg-type]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert info.size == 64 << 20
    assert peak < _memory_bound(backend), f"peak Python allocation {peak} bytes for 64 MiB"


def test_collect_garbage_keeps_referenced_recent_and_leased_blobs(backend: ArtifactBackend) -> None:
    referenced = backend.put_stream(io.BytesIO(b"referenced"))
    orphan = backend.put_stream(io.BytesIO(b"orphan" * 10))
    recent = backend.put_stream(io.BytesIO(b"recent orphan"))
    lease = backend.open_lease("writer")
    leased = backend.put_stream(io.BytesIO(b"leased"), lease=lease)
    for info in (referenced, orphan, leased):
        _make_old(backend, info.digest)
    report = backend.collect_garbage(
        referenced=lambda: {referenced.digest}, older_than_seconds=3600
    )
    assert (report.blobs_deleted, report.bytes_freed) == (1, len(b"orphan" * 10))
    assert (report.kept_referenced, report.kept_recent, report.kept_leased) == (1, 1, 1)
    assert sorted(backend.iter_digests()) == sorted(
        [referenced.digest, recent.digest, leased.digest]
    )
    assert backend.live_leases(older_than_seconds=3600) == {"writer"}
    backend.close_lease(lease)
    assert backend.live_leases(older_than_seconds=3600) == set()
    report = backend.collect_garbage(
        referenced=lambda: {referenced.digest}, older_than_seconds=3600
    )
    assert report.blobs_deleted == 1 and backend.exists(referenced.digest)
    assert backend.verify(referenced.digest)


def test_collect_garbage_deletes_nothing_when_references_fail(backend: ArtifactBackend) -> None:
    orphan = backend.put_stream(io.BytesIO(b"orphan"))
    _make_old(backend, orphan.digest)

    def broken() -> set[str]:
        raise IntegrityError("cannot read the references")

    with pytest.raises(IntegrityError):
        backend.collect_garbage(referenced=broken, older_than_seconds=0)
    assert backend.exists(orphan.digest)


@pytest.mark.parametrize("bad", ["../x", "a/b", "", "x" * 200, "with space"])
def test_lease_ids_are_validated(backend: ArtifactBackend, bad: str) -> None:
    with pytest.raises(ValidationError, match="invalid lease id"):
        backend.put_stream(io.BytesIO(b"x"), lease=bad)
    with pytest.raises(ValidationError, match="invalid lease id"):
        backend.close_lease(bad)


def test_put_files_stores_each_file_in_order_under_the_lease(
    backend: ArtifactBackend, tmp_path: Path
) -> None:
    contents = [os.urandom(12 * MiB), b'{"config": 1}', os.urandom(6 * MiB)]
    paths = []
    for i, data in enumerate([*contents, contents[0]]):  # the last one is stored already
        paths.append(tmp_path / f"file-{i}")
        paths[-1].write_bytes(data)
    lease = backend.open_lease("writer")
    infos = backend.put_files(paths, lease=lease)
    assert [(i.digest, i.size, i.created) for i in infos] == [
        (digest_bytes(data), len(data), created)
        for data, created in zip([*contents, contents[0]], [True, True, True, False], strict=True)
    ]
    for info in infos:
        _make_old(backend, info.digest)
    report = backend.collect_garbage(referenced=set, older_than_seconds=3600)
    assert (report.blobs_deleted, report.kept_leased) == (0, 3)
    backend.close_lease(lease)
    assert all(backend.verify(info.digest) for info in infos)
