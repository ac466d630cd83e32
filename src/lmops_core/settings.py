"""Settings, read from ``LMOPS_*`` environment variables on demand.

Nothing here runs at import time: call :func:`get_settings` (cached) or build
:class:`Settings` yourself, e.g. ``Settings(home=tmp_path)`` in tests.
"""

from __future__ import annotations

import getpass
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".lmops"


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return os.environ.get("USER", "unknown")


def _split_names(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Where lmops keeps its state and which plugins it may load."""

    model_config = SettingsConfigDict(env_prefix="LMOPS_", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="State folder (LMOPS_HOME).")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata store; SQLite under home when unset.",
    )
    artifact_uri: str | None = Field(
        default=None,
        description="Artifact store URI (e.g. local:///srv/lmops/artifacts); home/artifacts when unset.",
    )
    actor: str = Field(
        default_factory=_default_actor,
        description="Who the SDK acts as (a name only: decisions need token or signing_key).",
    )
    token: SecretStr | None = Field(
        default=None, description="Bearer token of the person acting (LMOPS_TOKEN)."
    )
    signing_key: Path | None = Field(
        default=None,
        description="Personal Ed25519 private key file of the person acting (LMOPS_SIGNING_KEY).",
    )
    plugins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra plugin modules or .py files to load (LMOPS_PLUGINS, comma separated).",
    )
    plugins_allow: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description="If set, only these plugin names are imported (LMOPS_PLUGINS_ALLOW).",
    )
    plugins_deny: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Plugin names that are never imported (LMOPS_PLUGINS_DENY).",
    )
    load_entry_points: bool = Field(
        default=True,
        description="Load plugins installed as distributions (entry-point group lmops).",
    )
    audit_key: str | None = Field(
        default=None,
        description="Secret that signs the audit chain head; a key file under home when unset.",
    )
    audit_checkpoint_every: int = Field(
        default=1000,
        ge=1,
        le=10_000_000,
        description="Write a signed audit checkpoint each time the chain crosses a multiple "
        "of this many events.",
    )
    audit_checkpoint_sink: Path | None = Field(
        default=None,
        description="A file (ideally on another mount or host) to which every audit genesis "
        "and checkpoint is appended as a JSON line.",
    )
    audit_checkpoint_webhook: str | None = Field(
        default=None,
        description="A witness URL to which every audit genesis and checkpoint is POSTed as "
        "JSON (through the same outbound guard as alert webhooks).",
    )
    audit_checkpoint_syslog: str | None = Field(
        default=None,
        description="A syslog daemon that receives every audit genesis and checkpoint: "
        "udp://HOST:PORT, tcp://HOST:PORT or a local socket path such as /dev/log.",
    )
    policies_dir: Path | None = Field(
        default=None,
        description="Folder of policy files; ./policies, else home/policies, when unset.",
    )
    alert_webhook_url: str | None = Field(
        default=None, description="Where monitoring alerts are POSTed (signed with HMAC)."
    )
    alert_webhook_secret: str | None = Field(
        default=None, description="Secret for the X-Lmops-Signature HMAC of alert webhooks."
    )
    alert_webhook_allow_private: bool = Field(
        default=False,
        description="Let alert and audit-checkpoint webhooks reach loopback, link-local and private addresses.",
    )
    alert_webhook_allow_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Networks (CIDR, comma separated) alert and checkpoint webhooks may reach even though "
        "they are not public, e.g. 10.20.0.0/16 (LMOPS_ALERT_WEBHOOK_ALLOW_NETWORKS).",
    )
    sqlite_busy_timeout_ms: int = Field(default=60_000, ge=0)
    max_record_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        le=2**40,
        description="Largest dataset record (one JSONL line or Parquet row) accepted, in bytes "
        "(LMOPS_MAX_RECORD_BYTES); ingestion memory is a small multiple of it.",
    )
    gc_grace_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="`lmops gc` only deletes unreferenced blobs and work files older than this "
        "(LMOPS_GC_GRACE_SECONDS).",
    )
    retraining_lease_seconds: float = Field(
        default=120.0,
        ge=1.0,
        description="A running retraining renews its lease every third of this; one not renewed "
        "for this long (its process crashed) is taken over by the next breach or `lmops "
        "retrain resume` (LMOPS_RETRAINING_LEASE_SECONDS).",
    )

    @field_validator(
        "plugins", "plugins_deny", "plugins_allow", "alert_webhook_allow_networks", mode="before"
    )
    @classmethod
    def _split(cls, value: object) -> object:
        return _split_names(value)

    @property
    def resolved_database_url(self) -> str:
        """The metadata store URL, defaulting to SQLite under ``home``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'lmops.db'}"

    @property
    def resolved_artifact_uri(self) -> str:
        """The artifact store URI, defaulting to a local folder under ``home``."""
        if self.artifact_uri:
            return self.artifact_uri
        return f"local://{self.home / 'artifacts'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, built once per process on first use."""
    return Settings()
