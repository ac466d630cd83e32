"""Hook implementations of lmops-ray: the ``ray`` data engine."""

from __future__ import annotations

from lmops_core.kit import registers
from lmops_core.runtimes import ChunkMapper, DataEngine
from lmops_ray.settings import ray_settings


def _connect() -> ChunkMapper:
    # Ray is imported here, when a step runs on it, never when plugins load.
    from lmops_ray.cluster import connect

    return connect(ray_settings())


def _configured() -> bool:
    return ray_settings().address is not None


RAY_ENGINE = DataEngine(
    name="ray",
    connect=_connect,
    configured=_configured,
    description="Ray actors on the cluster at LMOPS_RAY_ADDRESS "
    "(or a local one started for the run)",
)
"""The ``ray`` engine (the default when ``LMOPS_RAY_ADDRESS`` is set)."""

register_data_engines = registers(RAY_ENGINE)
