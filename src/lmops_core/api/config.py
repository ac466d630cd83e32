"""Settings of the admin API itself, read from ``LMOPS_API_*`` environment variables."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_ALLOWED_HOSTS = ("127.0.0.1", "localhost", "::1")


class ApiSettings(BaseSettings):
    """Which ``Host`` headers the API answers to (``LMOPS_API_ALLOWED_HOSTS``, comma separated)
    how long a request body may be (``LMOPS_API_MAX_BODY_BYTES``), how long a console
    sign-in lasts (``LMOPS_API_CONSOLE_SESSION_MINUTES``) and how many decisions a process
    runs at once (``LMOPS_API_DECISIONS_AT_ONCE``)."""

    model_config = SettingsConfigDict(env_prefix="LMOPS_API_", extra="ignore")

    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_ALLOWED_HOSTS),
        description="Host names (no wildcard '*') the API accepts in the Host header.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=0,
        description="Longest request body accepted, in bytes (LMOPS_API_MAX_BODY_BYTES); "
        "longer ones are refused with 413 before authentication.",
    )
    console_session_minutes: int = Field(
        default=480,
        ge=1,
        le=7 * 24 * 60,
        description="How long a console sign-in lasts, in minutes "
        "(LMOPS_API_CONSOLE_SESSION_MINUTES); then the reviewer signs in again.",
    )

    decisions_at_once: int = Field(
        default=4,
        ge=1,
        le=40,
        description="Decisions (approve, reject) one server process runs at once "
        "(LMOPS_API_DECISIONS_AT_ONCE); the others wait their turn in the order they came. "
        "Decisions write one at a time anyway (SQLite's write lock, the audit head's row "
        "lock on PostgreSQL): a few at once keep the writer busy, more only add waiting.",
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _no_wildcard(cls, value: list[str]) -> list[str]:
        if "*" in value:
            # Accepting any Host header re-opens DNS rebinding against a loopback service.
            raise ValueError("LMOPS_API_ALLOWED_HOSTS may not contain '*'")
        return value

    def host_patterns(self) -> list[str]:
        """The allow list as Starlette compares it: IPv6 literals keep their brackets."""
        return [f"[{h}]" if ":" in h and not h.startswith("[") else h for h in self.allowed_hosts]
