"""Settings of the Ray engine, from ``LMOPS_RAY_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RaySettings(BaseSettings):
    """Which cluster runs data steps, with how many workers, and where blocks are staged."""

    model_config = SettingsConfigDict(env_prefix="LMOPS_RAY_", extra="ignore")

    #: The cluster: host:port of its head (GCS), ray://host:port (Ray Client), or
    #: ``local`` to start one in this process. Set, it makes ray the default data engine.
    address: str | None = None
    #: Workers per step; unset: the cluster's CPUs.
    workers: int | None = Field(default=None, ge=1, le=4096)
    #: How long (seconds) an address may take to accept a connection before it is reported.
    connect_timeout_s: float = Field(default=3.0, gt=0, le=120)
    #: Folder for the Parquet blocks a step stages; every worker must read it (a shared
    #: mount on a multi-node cluster). Unset: the system's temporary folder.
    scratch: Path | None = None


def ray_settings() -> RaySettings:
    """The settings as the environment sets them now (read at each connect, not cached)."""
    return RaySettings()
