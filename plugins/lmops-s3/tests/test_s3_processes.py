"""Writers in other processes: one killed mid-upload, two storing the same content at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from lmops_s3.backend import S3ArtifactBackend
from lmops_s3.testing import MotoServer

from lmops_core.digests import digest_file

MiB = 1 << 20
WRITER = Path(__file__).with_name("s3_writer.py")


def _writer(s3: MotoServer, uri: str, path: Path, mode: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        **s3.env(),
        "PYTHONPATH": os.pathsep.join(sys.path),
        "LMOPS_S3_PART_SIZE_MIB": "5",
        "LMOPS_S3_MAX_CONCURRENCY": "1",
    }
    return subprocess.Popen(
        [sys.executable, str(WRITER), uri, str(path), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _uploads(store: S3ArtifactBackend) -> list[str]:
    answer = store.client.list_multipart_uploads(
        Bucket=store.location.bucket, Prefix=store.location.key()
    )
    return [u["Key"] for u in answer.get("Uploads", [])]


def test_a_writer_killed_mid_upload_leaves_nothing_visible_and_a_retry_succeeds(
    s3: MotoServer, store: S3ArtifactBackend, tmp_path: Path
) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(40 * MiB))  # eight parts, sent one at a time
    digest = digest_file(path)
    child = _writer(s3, store.uri, path, "kill")
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "sending"  # the first part reached the server
    child.send_signal(signal.SIGKILL)
    child.wait()

    assert _uploads(store) == [store.location.blob(digest)], "the kill did not land mid-upload"
    assert not store.exists(digest) and list(store.iter_digests()) == []
    with open(path, "rb") as fh:
        retry = store.put_stream(fh)
    assert (retry.digest, retry.created) == (digest, True) and store.verify(digest)
    assert store.sweep_temporary(older_than_seconds=0) == 1  # the killed writer's upload
    assert _uploads(store) == [] and list(store.iter_digests()) == [digest]


def test_two_writers_storing_the_same_content_at_once_both_succeed(
    s3: MotoServer, store: S3ArtifactBackend, tmp_path: Path
) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(12 * MiB))
    writers = [_writer(s3, store.uri, path, "race") for _ in range(2)]
    for child in writers:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    for child in writers:
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
    results = []
    for child in writers:
        out, _ = child.communicate(timeout=300)
        assert child.returncode == 0
        results.append(json.loads(out.strip().splitlines()[-1]))
    digest = digest_file(path)
    assert [r["digest"] for r in results] == [digest, digest]
    assert list(store.iter_digests()) == [digest] and store.verify(digest)
    assert _uploads(store) == [] and store.sweep_temporary(older_than_seconds=0) == 0
