"""The audit key: a secret kept outside the database that signs the chain head."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from lmops_core.errors import ConfigurationError


def key_fingerprint(key: bytes) -> str:
    """A public name for the audit key (recorded in the genesis and every checkpoint)."""
    return "sha256:" + hashlib.sha256(b"lmops-audit-key:" + key).hexdigest()


def load_or_create_audit_key(
    home: Path, configured: str | None, *, existing_log: str | None = None
) -> bytes:
    """The configured key, else ``home/keys/audit.key`` (created 0600 on first use).

    ``existing_log`` describes the audit log already in the store, if any: the
    key is then never created afresh, since a new key would orphan the chain
    (and let whoever deleted the key file start the log over).
    """
    if configured:
        return configured.encode("utf-8")
    path = home / "keys" / "audit.key"
    if path.exists():
        value = path.read_text().strip()
        if len(value) < 32:
            raise ConfigurationError(f"audit key file {path} is too short (tampered?)")
        return value.encode("utf-8")
    if existing_log:
        raise ConfigurationError(
            f"the audit key file {path} is missing but the store already has an audit log "
            f"({existing_log}); restore the key file (or set LMOPS_AUDIT_KEY): a new key "
            "is never generated for an existing log",
            path=str(path),
        )
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
