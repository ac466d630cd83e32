"""Fixtures of the lmops-ray tests: one local Ray for the whole module, and a workspace."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmops_core.offline import set_offline_defaults
from lmops_core.workspace import Workspace
from tests.conftest import make_settings

set_offline_defaults()  # Ray's usage statistics off, as loading plugins would make them

#: Loaded by module path, so the tests run before and after the entry point is installed.
PLUGINS = ["lmops_ray.plugin", "lmops_presidio.plugin"]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A Ray started for these tests on two CPUs, loopback only, no dashboard; shut down after."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    assert not ray.is_initialized(), "another test left Ray running"
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level="warning",
        _node_ip_address="127.0.0.1",
    )
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def ray_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """One workspace for the module (each test registers its own datasets)."""
    home = tmp_path_factory.mktemp("ray-home")
    workspace = Workspace.open(make_settings(Path(home), plugins=PLUGINS))
    yield workspace
    workspace.close()
