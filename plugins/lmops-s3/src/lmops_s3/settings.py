"""Settings of the S3 backend, from ``LMOPS_S3_*`` environment variables.

Credentials are never settings of ours: boto3's own chain finds them
(``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE`` and the shared
files, instance and container roles).
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class S3Settings(BaseSettings):
    """Where the object store is and how uploads are cut."""

    model_config = SettingsConfigDict(env_prefix="LMOPS_S3_", extra="ignore")

    endpoint_url: str | None = Field(
        default=None,
        description="The server (MinIO, Ceph, a loopback test server); unset: AWS, or "
        "boto3's own AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL.",
    )
    region: str | None = Field(default=None, description="Region; unset: the AWS chain's.")
    profile: str | None = Field(default=None, description="A profile of ~/.aws (AWS_PROFILE).")
    part_size_mib: int = Field(
        default=8, ge=5, le=5120, description="Multipart part size (grown for huge files)."
    )
    max_concurrency: int = Field(
        default=10,
        ge=1,
        le=64,
        description="Parts in flight at once (memory: one part each); boto3's default too.",
    )
    max_attempts: int = Field(
        default=3, ge=1, le=20, description="Tries of one request before its error is raised."
    )
    addressing_style: str = Field(
        default="auto", description="'path' for servers without virtual-host buckets."
    )
