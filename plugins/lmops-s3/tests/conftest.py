"""Fixtures of the lmops-s3 tests: the loopback S3 server and a store under a fresh prefix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lmops_s3.backend import S3ArtifactBackend
from lmops_s3.testing import MotoServer, shared_server


@pytest.fixture
def s3() -> MotoServer:
    """This test process's server (started on first use, stopped at exit)."""
    return shared_server()


@pytest.fixture
def store(s3: MotoServer) -> S3ArtifactBackend:
    """A backend on a prefix no other test uses, with 5 MiB parts."""
    return S3ArtifactBackend.connect(
        s3.fresh_uri(), s3.settings(part_size_mib=5), session=s3.session()
    )


@pytest.fixture
def own_server() -> Iterator[MotoServer]:
    """A server for this test alone (it is killed mid-test)."""
    server = MotoServer.start()
    yield server
    server.stop()
