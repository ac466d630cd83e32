"""``s3://bucket/prefix`` URIs and the object keys under the prefix.

Every key the backend touches is built here from a validated digest, lease id
or record name, so nothing a caller passes can name an object outside the
prefix (no ``..``, no empty or absolute segment, no control character).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse

from lmops_core.digests import hex_part
from lmops_core.errors import ConfigurationError, UnsafePathError, ValidationError

SCHEME = "s3"
# Bucket names as S3 allows them (3-63 lowercase letters, digits, dots and hyphens).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.=+-]*")
LEASE_ID = re.compile(r"[A-Za-z0-9_.-]{1,120}")
_RECORD_SEGMENT = re.compile(r"[a-z0-9][a-z0-9_.-]*")


@dataclass(frozen=True)
class Location:
    """A bucket and the key prefix the store owns inside it ("" for the whole bucket)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> Location:
        """Validate ``s3://bucket[/prefix]``; the prefix's segments must be plain names."""
        parsed = urlparse(uri)
        if parsed.scheme != SCHEME or parsed.query or parsed.fragment or parsed.params:
            raise ConfigurationError(f"not an s3://bucket/prefix artifact URI: {uri!r}")
        if not _BUCKET.fullmatch(parsed.netloc) or ".." in parsed.netloc:
            raise ConfigurationError(
                f"artifact URI {uri!r} names no valid bucket (3-63 lowercase letters, digits, "
                "dots and hyphens)"
            )
        path = parsed.path.strip("/")
        segments = path.split("/") if path else []
        for segment in segments:
            if not _SEGMENT.fullmatch(segment) or segment in {".", ".."}:
                raise ConfigurationError(
                    f"artifact URI {uri!r}: prefix segment {segment!r} is not a plain name "
                    "(letters, digits, _ . = + -; no '..', no empty segment)"
                )
        return cls(bucket=parsed.netloc, prefix="/".join(segments))

    def key(self, *parts: str) -> str:
        """The object key of ``parts`` under the prefix."""
        return "/".join(p for p in (self.prefix, *parts) if p)

    def folder(self, *parts: str) -> str:
        """A key prefix (ending in ``/``) for listing ``parts`` under the prefix."""
        return self.key(*parts) + "/"

    def blob(self, digest: str) -> str:
        hx = hex_part(digest)  # validated: only hex digits reach the key
        return self.key("blobs", "sha256", hx[:2], hx[2:])

    def age_marker(self, digest: str) -> str:
        return self.key("written", "sha256", hex_part(digest))

    def lease(self, lease: str, leaf: str = "") -> str:
        if not isinstance(lease, str) or LEASE_ID.fullmatch(lease) is None or lease in {".", ".."}:
            raise ValidationError(f"invalid lease id {lease!r}", field="lease")
        return self.key("leases", lease, leaf)

    def record(self, name: str) -> str:
        segments = name.split("/") if isinstance(name, str) else [""]
        if not all(_RECORD_SEGMENT.fullmatch(s) and ".." not in s for s in segments):
            raise UnsafePathError(
                f"record name {name!r} is not of the form a/b/c.json "
                "(lowercase letters, digits, . _ -)",
                name=name,
            )
        return self.key("records", *segments)

    def digest_of_blob_key(self, key: str) -> str | None:
        """The digest a listed blob key stands for, or ``None`` for a stray object."""
        tail = key[len(self.folder("blobs", "sha256")) :]
        first, _, rest = tail.partition("/")
        hx = first + rest
        if len(first) != 2 or not re.fullmatch(r"[0-9a-f]{64}", hx):
            return None
        return f"sha256:{hx}"
