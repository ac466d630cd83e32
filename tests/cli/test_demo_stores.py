"""``lmops demo`` on configured stores: PostgreSQL and an S3 prefix, which must be empty.

The whole demo takes minutes; these tests check the pieces the store settings change: the
demo's workspace opens on the configured stores, a pipeline step writes to them, and a store
that holds anything is refused, named, before anything is written.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from lmops_s3.backend import S3ArtifactBackend
from lmops_s3.testing import MotoServer, shared_server

from lmops_core.cli.demo import open_demo_workspace, run_pipeline_file
from lmops_core.errors import ConfigurationError
from lmops_core.registry.db import store_exists
from lmops_core.settings import get_settings

PIPELINE = (
    "apiVersion: lmops/v1\nkind: Pipeline\nname: refusals\nsteps:\n  - id: data\n"
    "    register_dataset: {name: refusals, shape: instruction,\n"
    "                       path: package:lmops_core/data/demo/refusals.jsonl}\n"
)


def _point_at(monkeypatch: pytest.MonkeyPatch, home: Path, db: str, uri: str) -> None:
    server: MotoServer = shared_server()
    for name, value in {
        **server.env(),
        "LMOPS_HOME": str(home),
        "LMOPS_DATABASE_URL": db,
        "LMOPS_ARTIFACT_URI": uri,
        # The step run here needs no ML plugin: importing them all would only cost time.
        "LMOPS_PLUGINS_ALLOW": "lmops-s3",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


def test_the_demo_runs_on_postgresql_and_s3_and_refuses_them_once_used(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = shared_server().fresh_uri()
    _point_at(monkeypatch, tmp_path / "home", pg_url, uri)
    ws = open_demo_workspace()
    try:
        assert ws.settings.resolved_database_url == pg_url and ws.artifacts.uri == uri
        assert ws.settings.home == tmp_path / "home" / "demo"
        pipeline = tmp_path / "refusals.yaml"
        pipeline.write_text(PIPELINE)
        results = run_pipeline_file(ws, pipeline, reporter=lambda *_: None)
        dataset = ws.get(results["data"].value)
        assert not ws.db.is_sqlite
        assert dataset.digest in set(ws.artifacts.backend.iter_digests())
    finally:
        ws.close()

    # The same database again: refused, named, with what to do.
    with pytest.raises(ConfigurationError, match="LMOPS_DATABASE_URL") as refused:
        open_demo_workspace()
    assert "already holds an audit log" in str(refused.value)
    assert "new database" in str(refused.value)


def test_a_used_artifact_prefix_is_refused_before_the_database_is_touched(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = shared_server()
    uri = server.fresh_uri()
    S3ArtifactBackend.connect(uri, server.settings(), session=server.session()).put_stream(
        io.BytesIO(b"left over")
    )
    _point_at(monkeypatch, tmp_path / "home", pg_url, uri)
    with pytest.raises(ConfigurationError, match=f"artifact store {uri} .LMOPS_ARTIFACT_URI."):
        open_demo_workspace()
    assert not store_exists(pg_url)  # nothing was written to the database
    assert not (tmp_path / "home" / "demo").exists()
