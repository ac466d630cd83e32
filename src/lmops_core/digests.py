"""Content digests: ``sha256:<64 lowercase hex>``, parsed and computed exactly."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import BinaryIO

from lmops_core.errors import ValidationError

ALGORITHM = "sha256"
CHUNK_SIZE = 1024 * 1024
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


def parse_digest(value: str) -> str:
    """Return ``value`` if it is exactly ``sha256:`` and 64 lowercase hex digits."""
    if not isinstance(value, str) or _DIGEST_RE.fullmatch(value) is None:
        raise ValidationError(
            f"invalid digest {value!r}: expected 'sha256:' followed by 64 lowercase hex digits",
            field="digest",
        )
    return value


def hex_part(digest: str) -> str:
    """The 64 hex digits of a validated digest."""
    return parse_digest(digest).split(":", 1)[1]


def digest_bytes(data: bytes) -> str:
    """Digest of an in-memory byte string."""
    return f"{ALGORITHM}:{hashlib.sha256(data).hexdigest()}"


def digest_stream(stream: BinaryIO) -> str:
    """Digest of a binary stream read to its end in fixed-size chunks."""
    h = hashlib.sha256()
    while chunk := stream.read(CHUNK_SIZE):
        h.update(chunk)
    return f"{ALGORITHM}:{h.hexdigest()}"


def digest_file(path: Path) -> str:
    """Digest of a file, read in fixed-size chunks (constant memory)."""
    with open(path, "rb") as fh:
        return digest_stream(fh)
