"""Partitions a data engine's workers fetch from, and store into, the S3 store themselves.

A worker opens the store from the picklable opener the backend gives (its URI) and its own
environment (the ``AWS_*`` and ``LMOPS_S3_*`` variables an engine forwards); a partition is
fetched with its digest checked as it arrives, so stored bytes that do not match fail,
naming the partition, and leave no file.
"""

from __future__ import annotations

import json
import pickle
import time
from pathlib import Path

import pytest
from lmops_s3.backend import S3ArtifactBackend
from lmops_s3.testing import MotoServer

from lmops_core.builtins.data_steps import LocalMapper
from lmops_core.datasets.ingest import canonical_json
from lmops_core.datasets.partitions import (
    Partition,
    PartitionManifest,
    write_partition,
)
from lmops_core.datasets.row_batches import Rewritten, Rows, rewrite_stored_partitions
from lmops_core.datasets.stored import (
    StoredDataset,
    fetch_partition,
    open_store,
    store_partition,
    worker_env,
    write_listing,
)
from lmops_core.digests import digest_file
from lmops_core.errors import IntegrityError, NotFoundError, ValidationError


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
    path = out / "part-1.parquet"
    written = Partition("p", digest_file(path), path.stat().st_size, 51)
    again = store_partition(store.worker_opener(), path, written)
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
    written = Partition("out.parquet", digest_file(path), path.stat().st_size, 1)
    part = store_partition(store.worker_opener(), path, written, lease=lease)
    # Dated two hours back, as a long run's first partition would be by the time it commits.
    old = repr(time.time() - 7200).encode()
    key = store.location.age_marker(part.digest)
    store.client.put_object(Bucket=store.location.bucket, Key=key, Body=old)
    report = store.collect_garbage(referenced=set, older_than_seconds=3600)
    assert (report.kept_leased, report.blobs_deleted) == (1, 0) and store.exists(part.digest)
    store.close_lease(lease)
    report = store.collect_garbage(referenced=set, older_than_seconds=3600)
    assert report.blobs_deleted == 1 and not store.exists(part.digest)


def _shout(rows: Rows) -> Rewritten:
    """Upper-case each prompt; the result is where the batch's rows came from."""
    out = []
    for i, raw in enumerate(rows.lines):
        record = json.loads(raw)
        if record["prompt"] == "bad":
            raise ValidationError(f"{rows.where(i)}: bad prompt")
        out.append(canonical_json({**record, "prompt": record["prompt"].upper()}))
    return Rewritten(out, (rows.source, rows.first, len(out)))


def test_rewritten_partitions_are_stored_under_their_names_and_the_lease(
    store: S3ArtifactBackend, worker_side: None, tmp_path: Path
) -> None:
    manifest = _partitions(store, tmp_path, 3)
    lease = store.open_lease("run-rewrite")
    dataset = StoredDataset(store.worker_opener(), manifest, lease=lease)
    done = list(rewrite_stored_partitions(LocalMapper(), lambda: _shout, dataset.partitions()))
    assert [d.part for d in done] == [0, 1, 2] and [d.rows for d in done] == [50, 51, 52]
    assert [d.results for d in done] == [[(f"part-{k}.parquet", 1, 50 + k)] for k in range(3)]
    for k, one in enumerate(done):
        # The bytes of the same rows written here: the local engine's partition.
        expected = tmp_path / f"expected-{k}.parquet"
        rows = [{"prompt": f"Q{k}-{i}", "response": "ok"} for i in range(50 + k)]
        written = write_partition(rows, expected)
        assert one.partition == Partition(f"part-{k}.parquet", written.digest, written.size, 50 + k)
        assert store.exists(one.partition.digest)
    # Held by the run's lease: gc keeps every output partition, even dated two hours back.
    old = repr(time.time() - 7200).encode()
    for one in done:
        key = store.location.age_marker(one.partition.digest)
        store.client.put_object(Bucket=store.location.bucket, Key=key, Body=old)
    report = store.collect_garbage(referenced=set, older_than_seconds=3600)
    assert report.kept_leased == 3 and all(store.exists(d.partition.digest) for d in done)
    listing = write_listing(
        tmp_path / "out.json", shape="instruction", partitions=[d.partition for d in done]
    )
    again = PartitionManifest.from_bytes((tmp_path / "out.json").read_bytes(), digest="out.json")
    assert again == listing and listing.records == 153


def test_a_rewrite_error_names_the_partition_and_row_and_stores_nothing(
    store: S3ArtifactBackend, worker_side: None, tmp_path: Path
) -> None:
    path = tmp_path / "part-0.parquet"
    write_partition(
        [{"prompt": "fine", "response": "ok"}, {"prompt": "bad", "response": "x"}], path
    )
    (info,) = store.put_files([path])
    manifest = PartitionManifest(
        shape="instruction", partitions=(Partition(path.name, info.digest, info.size, 2),)
    )
    before = set(store.iter_digests())
    parts = StoredDataset(store.worker_opener(), manifest).partitions()
    with pytest.raises(ValidationError, match=r"^part-0\.parquet:2: bad prompt$"):
        list(rewrite_stored_partitions(LocalMapper(), lambda: _shout, parts))
    assert set(store.iter_digests()) == before
