"""The bundle manifest: what a bundle holds, in canonical JSON, and its signature file.

Layout of a bundle folder::

    manifest.json   canonical JSON (sorted keys, no spaces), the signed bytes
    manifest.sig    {"algorithm": "ed25519", "key_id": ..., "signature": base64}
    files/...       the members, plaintext or AES-GCM ciphertext
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lmops_core.digests import digest_bytes
from lmops_core.errors import IntegrityError, UnsafeContentError
from lmops_core.safepaths import safe_relative_path

BUNDLE_FORMAT = "lmops.bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
MEMBERS_DIR = "files"


@dataclass(frozen=True)
class Member:
    """One member file: plaintext digest and size, and for encrypted bundles the ciphertext's."""

    path: str
    sha256: str
    size: int
    ciphertext_sha256: str | None = None
    ciphertext_size: int | None = None
    nonce: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"path": self.path, "sha256": self.sha256, "size": self.size}
        if self.ciphertext_sha256 is not None:
            body.update(
                ciphertext_sha256=self.ciphertext_sha256,
                ciphertext_size=self.ciphertext_size,
                nonce=self.nonce,
            )
        return body

    @property
    def stored_digest(self) -> str:
        """The digest of the bytes on disk (ciphertext when encrypted)."""
        return self.ciphertext_sha256 or self.sha256

    @property
    def stored_size(self) -> int:
        """The size of the bytes on disk."""
        return self.ciphertext_size if self.ciphertext_size is not None else self.size


def canonical_bytes(manifest: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and stored as ``manifest.json``."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def sign(manifest_bytes: bytes, key_id: str, key: Ed25519PrivateKey) -> bytes:
    """The ``manifest.sig`` content for ``manifest_bytes``."""
    signature = base64.b64encode(key.sign(manifest_bytes)).decode("ascii")
    return canonical_bytes({"algorithm": "ed25519", "key_id": key_id, "signature": signature})


def verify_signature(
    manifest_bytes: bytes, sig_bytes: bytes, public_keys: dict[str, Ed25519PublicKey]
) -> str:
    """Check ``manifest.sig`` over the manifest bytes; returns the signing key id."""
    try:
        sig = json.loads(sig_bytes)
        key_id = str(sig["key_id"])
        algorithm = sig["algorithm"]
        signature = base64.b64decode(sig["signature"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(
            f"{SIGNATURE}: malformed signature file ({exc})", file=SIGNATURE
        ) from exc
    if algorithm != "ed25519":
        raise IntegrityError(f"{SIGNATURE}: unsupported algorithm {algorithm!r}", file=SIGNATURE)
    key = public_keys.get(key_id)
    if key is None:
        raise IntegrityError(
            f"{SIGNATURE}: signed by key {key_id}, which is not among the "
            f"trusted public keys ({', '.join(sorted(public_keys)) or 'none'})",
            file=SIGNATURE,
            key_id=key_id,
        )
    try:
        key.verify(signature, manifest_bytes)
    except InvalidSignature as exc:
        raise IntegrityError(
            f"{MANIFEST}: the signature by key {key_id} does not match: the "
            "manifest or its signature was altered",
            file=MANIFEST,
            key_id=key_id,
        ) from exc
    return key_id


def parse_manifest(manifest_bytes: bytes) -> tuple[dict[str, Any], list[Member]]:
    """The manifest body and its members, each path validated (call after the signature)."""
    try:
        body = json.loads(manifest_bytes)
        if body.get("format") != BUNDLE_FORMAT:
            raise ValueError(f"format is {body.get('format')!r}, expected {BUNDLE_FORMAT!r}")
        members = [
            Member(
                path=str(safe_relative_path(m["path"], what="bundle member")),
                sha256=m["sha256"],
                size=int(m["size"]),
                ciphertext_sha256=m.get("ciphertext_sha256"),
                ciphertext_size=m.get("ciphertext_size"),
                nonce=m.get("nonce"),
            )
            for m in body["members"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(
            f"{MANIFEST}: not a valid bundle manifest ({exc})", file=MANIFEST
        ) from exc
    paths = [m.path for m in members]
    if len(set(paths)) != len(paths):
        raise UnsafeContentError(f"{MANIFEST}: lists a member twice", file=MANIFEST)
    return body, members


def manifest_digest(manifest_bytes: bytes) -> str:
    """The bundle's digest: the sha256 of its canonical manifest."""
    return digest_bytes(manifest_bytes)
