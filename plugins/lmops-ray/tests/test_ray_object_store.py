"""A partitioned dataset version kept on the S3 backend, processed on Ray: the local root.

The artifacts live on the loopback moto server the lmops-s3 tests start (a real
S3-protocol server over HTTP); the step reads the version's partitions from it and
stores its output partitions there, on the local engine and on Ray.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lmops_s3.testing import shared_server

from lmops_core.datasets.partitions import PartitionManifest
from lmops_core.workspace import Workspace
from tests.conftest import make_settings

from .conftest import PLUGINS
from .test_ray_engine import generated, run_on_both
from .test_ray_partitions import _partitioned


def test_partitions_on_the_object_store_give_the_local_root_on_ray(
    local_ray: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = shared_server()
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    uri = server.fresh_uri()
    settings = make_settings(
        tmp_path / "home", artifact_uri=uri, plugins=[*PLUGINS, "lmops_s3.plugin"]
    )
    ws = Workspace.open(settings)
    try:
        assert ws.artifacts.uri == uri
        folder = _partitioned(tmp_path / "in", generated(2000, seed=12))
        ref = ws.register_dataset("on-s3", folder, shape="instruction").ref
        local, on_ray = run_on_both(ws, "dedup-exact", ref)
        assert local[2]["engine"] == "local" and on_ray[2]["engine"] == "ray"
        latest = ws.get("dataset:on-s3")
        assert latest.format == "parquet-partitions" and latest.digest == local[0]
        # The output's manifest and every partition it lists are objects on the server.
        assert latest.manifest_digest is not None
        manifest = PartitionManifest.from_bytes(
            ws.artifacts.read_bytes(latest.manifest_digest), digest=latest.manifest_digest
        )
        on_server = set(ws.artifacts.backend.iter_digests())
        assert {p.digest for p in manifest.partitions} | {latest.manifest_digest} <= on_server
        assert manifest.root == local[0] and len(manifest.partitions) == 4
    finally:
        ws.close()
