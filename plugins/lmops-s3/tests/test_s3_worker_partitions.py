"""Partitions a data engine's workers fetch from, and store into, the S3 store themselves.

A worker opens the store from the picklable opener the backend gives (its URI) and its own
environment (the ``AWS_*`` and ``LMOPS_S3_*`` variables an engine forwards); a partition is
fetched with its digest checked as it arrives, so stored bytes that do not match fail,
naming the partition, and leave no file.
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path

import pytest
from lmops_s3.backend import S3ArtifactBackend
from lmops_s3.testing import MotoServer

from lmops_core.datasets.partitions import Partition, PartitionManifest, write_partition
from lmops_core.datasets.stored import (
    StoredDataset,
    fetch_partition,
    open_store,
    store_partition,
    worker_env,
)
from lmops_core.digests import digest_file
from lmops_core.errors import IntegrityError, NotFoundError


@pytest.fixture
def worker_side(s3: MotoServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's environment as a worker's would be, with what the engine forwards."""
    for name, value in s3.env().items():
        monkeypatch.setenv(name, value)


def _partitions(store: S3ArtifactBackend, folder: Path, count: int) -> PartitionManifest:
    parts = []
    for k in range(count):
        path = folder / f"part-{k}.parquet"
        rows = [{"prompt": f"q{k}-{i}", "response": "ok"} for i in range(50 + k)]
        written = write_partition(rows, path)
        (info,) = store.put_files([path])
        parts.append(
            Partition(name=path.name, digest=info.digest, size=info.size, rows=written.rows)
        )
    return PartitionManifest(shape="instruction", partitions=tuple(parts))


def test_the_opener_is_picklable_and_forwards_only_the_stores_variables(
    store: S3ArtifactBackend, s3: MotoServer, worker_side: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    opener = store.worker_opener()
    monkeypatch.setenv("UNRELATED_SECRET", "x")
    assert pickle.loads(pickle.dumps(opener)) == opener
    assert s3.secret_key not in repr(opener) and s3.secret_key.encode() not in pickle.dumps(opener)
    env = worker_env(opener)
    assert env["AWS_SECRET_ACCESS_KEY"] == s3.secret_key
    assert env["LMOPS_S3_ENDPOINT_URL"] == s3.endpoint and "UNRELATED_SECRET" not in env
    assert open_store(opener).uri == store.uri


def test_fetch_and_store_round_trip(
    store: S3ArtifactBackend, worker_side: None, tmp_path: Path
) -> None:
    manifest = _partitions(store, tmp_path, 3)
    dataset = StoredDataset(store.worker_opener(), manifest)
    out = dataset.export(tmp_path / "export")
    for part in manifest.partitions:
        assert digest_file(out / part.name) == part.digest
    again = store_partition(store.worker_opener(), out / "part-1.parquet", name="p", rows=51)
    assert again == Partition("p", manifest.partitions[1].digest, manifest.partitions[1].size, 51)


def test_a_partition_not_matching_its_digest_is_named_and_leaves_no_file(
    store: S3ArtifactBackend, worker_side: None, tmp_path: Path
) -> None:
    manifest = _partitions(store, tmp_path, 2)
    bad = manifest.partitions[1]
    store.client.put_object(
        Bucket=store.location.bucket,
        Key=store.location.blob(bad.digest),
        Body=(tmp_path / "part-0.parquet").read_bytes(),
    )
    (_, second) = StoredDataset(store.worker_opener(), manifest).partitions()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(IntegrityError) as caught:
        fetch_partition(second, scratch)
    assert str(caught.value) == (
        f"partition part-1.parquet ({bad.digest}) in the artifact store at {store.uri}: "
        "its stored bytes do not match its digest"
    )
    assert list(scratch.iterdir()) == []
    store.client.delete_object(Bucket=store.location.bucket, Key=store.location.blob(bad.digest))
    with pytest.raises(NotFoundError, match="partition part-1.parquet .* is missing"):
        fetch_partition(second, scratch)
    assert list(scratch.iterdir()) == []


def test_a_partition_a_worker_stores_joins_the_runs_lease(
    store: S3ArtifactBackend, worker_side: None, tmp_path: Path
) -> None:
    """A worker's blob is held by the run's lease: gc leaves it until the run has committed."""
    path = tmp_path / "out.parquet"
    write_partition([{"prompt": "kept", "response": "ok"}], path)
    lease = store.open_lease("run-test")
    part = store_partition(store.worker_opener(), path, name="out.parquet", rows=1, lease=lease)
    # Dated two hours back, as a long run's first partition would be by the time it commits.
    old = repr(time.time() - 7200).encode()
    key = store.location.age_marker(part.digest)
    store.client.put_object(Bucket=store.location.bucket, Key=key, Body=old)
    report = store.collect_garbage(referenced=set, older_than_seconds=3600)
    assert (report.kept_leased, report.blobs_deleted) == (1, 0) and store.exists(part.digest)
    store.close_lease(lease)
    report = store.collect_garbage(referenced=set, older_than_seconds=3600)
    assert report.blobs_deleted == 1 and not store.exists(part.digest)
