"""What the S3 backend adds to the artifact contract: where objects go and what is sent."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from lmops_s3.backend import S3ArtifactBackend
from lmops_s3.location import Location
from lmops_s3.testing import MotoServer

from lmops_core.digests import digest_bytes, digest_file
from lmops_core.errors import ConfigurationError, IntegrityError, UnsafePathError

MiB = 1 << 20


def _keys(store: S3ArtifactBackend) -> list[str]:
    answer = store.client.list_objects_v2(Bucket=store.location.bucket, Prefix=store.location.key())
    return sorted(o["Key"] for o in answer.get("Contents", []))


def _uploads(store: S3ArtifactBackend) -> list[str]:
    answer = store.client.list_multipart_uploads(
        Bucket=store.location.bucket, Prefix=store.location.key()
    )
    return [u["Key"] for u in answer.get("Uploads", [])]


def test_a_file_goes_to_its_digest_and_is_never_sent_twice(
    store: S3ArtifactBackend, tmp_path: Path
) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(12 * MiB))  # three parts
    sent: list[int] = []
    with open(path, "rb") as fh:
        first = store.put_stream(fh, progress=sent.append)
    assert (first.digest, first.size, first.created) == (digest_file(path), 12 * MiB, True)
    assert sum(sent) == 12 * MiB and len(sent) == 3
    with open(path, "rb") as fh:
        again = store.put_stream(fh, progress=sent.append)
    assert (again.digest, again.created) == (first.digest, False)
    assert sum(sent) == 12 * MiB, "stored content was sent again"
    hx = first.digest.split(":")[1]
    prefix = store.location.prefix
    assert _keys(store) == [
        f"{prefix}/blobs/sha256/{hx[:2]}/{hx[2:]}",
        f"{prefix}/written/sha256/{hx}",
    ]
    assert _uploads(store) == [] and store.verify(first.digest)


def test_a_stream_is_hashed_as_sent_and_stored_content_is_not_published_again(
    store: S3ArtifactBackend,
) -> None:
    data = os.urandom(11 * MiB)

    class Pipe(io.RawIOBase):  # a stream that cannot be read twice
        def __init__(self) -> None:
            self.left = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            chunk = self.left.read(min(len(buffer), MiB))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    first = store.put_stream(Pipe())  # type: ignore[arg-type]
    again = store.put_stream(Pipe())  # type: ignore[arg-type]
    assert first.digest == again.digest == digest_bytes(data)
    assert (first.created, again.created) == (True, False)
    assert [k for k in _keys(store) if "/tmp/" in k] == [] and _uploads(store) == []
    with store.open(first.digest) as reader:
        assert reader.read() == data


def test_a_file_changed_while_stored_is_not_published(
    store: S3ArtifactBackend, tmp_path: Path
) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(12 * MiB))

    class Changing(io.FileIO):
        """Reads the file; once it was hashed (read to its end), its content changes."""

        def readinto(self, buffer: Any) -> int:
            n = super().readinto(buffer)
            if not n:  # the hash's pass is over: the bytes change before they are sent
                with open(path, "r+b") as fh:
                    fh.write(b"changed")
            return n or 0

    with Changing(path, "rb") as fh, pytest.raises(IntegrityError, match="changed while it was"):
        store.put_stream(fh)  # type: ignore[arg-type]
    assert [k for k in _keys(store) if "/blobs/" in k] == [] and _uploads(store) == []


def test_a_file_changed_while_it_is_sent_is_not_published(s3: MotoServer, tmp_path: Path) -> None:
    store = S3ArtifactBackend.connect(
        s3.fresh_uri(), s3.settings(part_size_mib=5, max_concurrency=1), session=s3.session()
    )
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(12 * MiB))

    def change_the_last_part(_: int) -> None:  # after the first part went, one at a time
        with open(path, "r+b") as fh:
            fh.seek(11 * MiB)
            fh.write(b"changed")

    with open(path, "rb") as fh, pytest.raises(IntegrityError, match="changed while it was"):
        store.put_stream(fh, progress=change_the_last_part)
    assert [k for k in _keys(store) if "/blobs/" in k] == [] and _uploads(store) == []


def test_records_are_replaced_atomically_and_stay_inside_the_prefix(
    store: S3ArtifactBackend,
) -> None:
    store.put_record("audit/checkpoints/1.json", b"one")
    store.put_record("audit/checkpoints/1.json", b"uno")
    store.put_record("audit/checkpoints/2.json", b"two")
    assert store.read_record("audit/checkpoints/1.json") == b"uno"
    assert store.read_record("audit/none.json") is None
    assert store.list_records("audit/checkpoints") == [
        "audit/checkpoints/1.json",
        "audit/checkpoints/2.json",
    ]
    for bad in ["../x.json", "a/../../b.json", "/abs.json", "a//b.json", "A.json", ""]:
        with pytest.raises(UnsafePathError, match="is not of the form"):
            store.put_record(bad, b"x")


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/../other",
        "s3://bucket/a/./b",
        "s3://bucket/a//b",
        "s3://b/x",
        "s3://Bucket/x",
        "s3://bucket/x?versionId=1",
        "local://bucket/x",
    ],
)
def test_uris_that_could_escape_their_prefix_are_refused(uri: str) -> None:
    with pytest.raises(ConfigurationError, match="artifact URI"):
        Location.parse(uri)


def test_the_hook_opens_s3_uris_with_the_environment(
    s3: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from lmops_core.plugins import load_plugins
    from lmops_core.settings import Settings

    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)
    uri = s3.fresh_uri()
    settings = Settings(home=tmp_path, load_entry_points=False, plugins=["lmops_s3.plugin"])
    host = load_plugins(settings, registrations=False)
    backend = host.hook.lmops_artifact_backend(uri=uri, settings=settings)
    assert isinstance(backend, S3ArtifactBackend) and backend.uri == uri
    assert backend.endpoint == s3.endpoint
    local = host.hook.lmops_artifact_backend(uri=f"local://{tmp_path}/a", settings=settings)
    assert not isinstance(local, S3ArtifactBackend)


def test_files_stored_together_are_each_sent_once(store: S3ArtifactBackend, tmp_path: Path) -> None:
    contents = [os.urandom(12 * MiB), b"{}", os.urandom(7 * MiB)]
    paths = []
    for i, data in enumerate([*contents, contents[2]]):
        paths.append(tmp_path / f"file-{i}")
        paths[-1].write_bytes(data)
    sent: list[int] = []
    infos = store.put_files(paths, progress=sent.append)
    assert [(i.digest, i.created) for i in infos] == [
        (digest_file(p), p != paths[-1]) for p in paths
    ]
    assert sum(sent) == sum(map(len, contents)), "stored content was sent again"
    assert _uploads(store) == [] and [k for k in _keys(store) if "/tmp/" in k] == []
