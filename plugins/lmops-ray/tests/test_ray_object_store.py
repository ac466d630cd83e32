"""A partitioned dataset version kept on the S3 backend, processed on Ray: the local root.

The artifacts live on the loopback moto server the lmops-s3 tests start (a real
S3-protocol server over HTTP). On the local engine the runner exports the input's
partitions and stores the output's; on Ray the workers fetch each input partition from
the server themselves (its digest checked as it arrives) and store the partitions they
write (``pii-redact`` too: one pass, fetch, redact and store), and the calling process
assembles the manifest. Both give the same Merkle root,
evidence and card; a partition whose stored bytes do not match its digest fails the run,
naming it, and records no version.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from lmops_s3.location import Location
from lmops_s3.testing import MotoServer, shared_server

from lmops_core.datasets.partitions import PartitionManifest
from lmops_core.errors import IntegrityError
from lmops_core.workspace import Workspace
from tests.conftest import make_settings

from .conftest import PLUGINS
from .test_ray_engine import CASES, _run, generated, run_on_both
from .test_ray_partitions import _partitioned, pii_on_both


@pytest.fixture()
def s3_ws(
    local_ray: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Workspace, MotoServer]]:
    """A workspace whose artifacts are on the loopback server (Ray already running: its
    workers get the server's endpoint and key only from what the engine forwards)."""
    server = shared_server()
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    settings = make_settings(
        tmp_path / "home", artifact_uri=server.fresh_uri(), plugins=[*PLUGINS, "lmops_s3.plugin"]
    )
    ws = Workspace.open(settings)
    try:
        yield ws, server
    finally:
        ws.close()


def _manifest(ws: Workspace, ref: str) -> PartitionManifest:
    version = ws.get(ref)
    assert version.manifest_digest is not None
    data = ws.artifacts.read_bytes(version.manifest_digest)
    return PartitionManifest.from_bytes(data, digest=version.manifest_digest)


@pytest.mark.parametrize("op", sorted(CASES))
def test_workers_read_and_write_partitions_on_the_object_store(
    op: str, s3_ws: tuple[Workspace, MotoServer], tmp_path: Path
) -> None:
    ws, server = s3_ws
    assert ws.artifacts.uri.startswith("s3://")
    folder = _partitioned(tmp_path / "in", generated(2000, seed=12))
    ref = ws.register_dataset("on-s3", folder, shape="instruction").ref
    local, on_ray = run_on_both(ws, op, ref)  # the same root, evidence and card
    assert local[2]["engine"] == "local" and on_ray[2]["engine"] == "ray"
    (ray_run, local_run) = ws.runs(limit=2)
    assert ray_run.params["engine"] == "ray" and local_run.params["engine"] == "local"
    _stored_by_the_workers(ws, server, "dataset:on-s3", local[0], on_ray[1])


def _stored_by_the_workers(
    ws: Workspace, server: MotoServer, ref: str, root: str, evidence: object
) -> None:
    """The latest two runs were Ray's, then the local engine's: Ray's partitions went through
    its workers, the output (root ``root``) is on the server, and no record holds the key."""
    (ray_run, local_run) = ws.runs(limit=2)
    assert ray_run.info["partitions"].startswith("read and written by the workers")
    assert "partitions" not in local_run.info
    # The output's manifest and every partition it lists are objects on the server.
    latest = ws.get(ref)
    assert latest.format == "parquet-partitions" and latest.digest == root
    manifest = _manifest(ws, ref)
    on_server = set(ws.artifacts.backend.iter_digests())
    assert {p.digest for p in manifest.partitions} | {latest.manifest_digest} <= on_server
    assert manifest.root == root and len(manifest.partitions) == 4
    # The key the workers were given is in no record of the run.
    recorded = json.dumps([ray_run.params, ray_run.info, evidence], default=str)
    assert server.secret_key not in recorded and server.access_key not in recorded


def test_a_partition_not_matching_its_digest_fails_naming_it_and_records_nothing(
    s3_ws: tuple[Workspace, MotoServer], tmp_path: Path
) -> None:
    ws, server = s3_ws
    folder = _partitioned(tmp_path / "in", generated(2000, seed=13))
    ref = ws.register_dataset("tampered", folder, shape="instruction").ref
    parts = _manifest(ws, ref).partitions
    # Partition 2's object now holds partition 0's bytes: valid Parquet, wrong digest.
    location = Location.parse(ws.artifacts.uri)
    client = server.client()
    good = client.get_object(Bucket=location.bucket, Key=location.blob(parts[0].digest))
    client.put_object(
        Bucket=location.bucket, Key=location.blob(parts[2].digest), Body=good["Body"].read()
    )
    versions = len(ws.list_versions("dataset", "tampered"))
    runs = len(ws.runs())
    with pytest.raises(IntegrityError) as caught:
        _run(ws, "dedup-exact", ref, {**CASES["dedup-exact"], "engine": "ray"})
    message = str(caught.value)
    assert f"partition {parts[2].name} ({parts[2].digest})" in message
    assert "do not match its digest" in message and ws.artifacts.uri in message
    assert len(ws.list_versions("dataset", "tampered")) == versions  # no version recorded
    (failed, *_) = ws.runs()
    assert len(ws.runs()) == runs + 1 and failed.status == "failed"


def test_pii_redact_reads_and_writes_partitions_on_the_object_store(
    s3_ws: tuple[Workspace, MotoServer], tmp_path: Path
) -> None:
    """pii-redact on Ray: workers fetch, redact and store each partition; the local result."""
    ws, server = s3_ws
    local, on_ray = pii_on_both(ws, tmp_path, "pii-on-s3")  # the same root and evidence
    _stored_by_the_workers(ws, server, "dataset:pii-on-s3", local[0], on_ray[1])
