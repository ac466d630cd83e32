"""The audit key: a secret kept outside the database that signs the chain head."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from lmops_core.errors import ConfigurationError


def load_or_create_audit_key(home: Path, configured: str | None) -> bytes:
    """The configured key, else ``home/keys/audit.key`` (created 0600 on first use)."""
    if configured:
        return configured.encode("utf-8")
    path = home / "keys" / "audit.key"
    if path.exists():
        value = path.read_text().strip()
        if len(value) < 32:
            raise ConfigurationError(f"audit key file {path} is too short (tampered?)")
        return value.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    value = secrets.token_hex(32)
    # Write a private temp file, then hard-link it into place: the link either
    # appears complete or fails because another process won the race.
    tmp = path.with_name(f"audit.key.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, value.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        value = path.read_text().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return value.encode("utf-8")
