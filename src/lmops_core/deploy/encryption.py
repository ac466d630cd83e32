"""Optional encryption at rest of bundle members with AES-256-GCM.

Each member gets a fresh random 96-bit nonce and its path as associated data,
so a ciphertext cannot be swapped onto another member name. A short key check
value in the manifest turns "wrong key" into a clear error before decryption.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lmops_core.errors import IntegrityError, ValidationError

ALGORITHM = "AES-256-GCM"
KEY_ENV = "LMOPS_BUNDLE_KEY"
_KEY_BYTES = 32


def _decode_key(raw: bytes, where: str) -> bytes:
    if len(raw) == _KEY_BYTES:
        return raw
    text = raw.strip()
    try:
        if len(text) == 2 * _KEY_BYTES:
            return binascii.unhexlify(text)
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(
            f"{where}: not a 32-byte key in raw, hex or base64 form", field=where
        ) from exc
    if len(decoded) != _KEY_BYTES:
        raise ValidationError(f"{where}: the key is {len(decoded)} bytes, expected 32", field=where)
    return decoded


def load_encryption_key(file: Path | None = None, *, env: str = KEY_ENV) -> bytes | None:
    """A 32-byte key from ``file`` (raw, hex or base64), else from ``$env``, else None."""
    if file is not None:
        return _decode_key(Path(file).read_bytes(), str(file))
    value = os.environ.get(env)
    return _decode_key(value.encode("ascii"), env) if value else None


def key_check(key: bytes) -> str:
    """A public fingerprint of the key, to recognise a wrong key without trying to decrypt."""
    return hashlib.sha256(b"lmops-bundle-key-check\x00" + key).hexdigest()[:16]


def encrypt(key: bytes, path: str, plaintext: bytes) -> tuple[bytes, str]:
    """``(ciphertext, nonce hex)`` of one member."""
    nonce = os.urandom(12)
    return AESGCM(key).encrypt(nonce, plaintext, path.encode("utf-8")), nonce.hex()


def decrypt(key: bytes, path: str, ciphertext: bytes, nonce_hex: str) -> bytes:
    """The plaintext of one member; a wrong key or altered bytes raise ``IntegrityError``."""
    try:
        return AESGCM(key).decrypt(bytes.fromhex(nonce_hex), ciphertext, path.encode("utf-8"))
    except (InvalidTag, ValueError) as exc:
        raise IntegrityError(
            f"bundle member {path}: decryption failed (wrong key or altered ciphertext)", file=path
        ) from exc


def check_key_length(key: bytes) -> None:
    """Refuse anything but a 256-bit key."""
    if len(key) != _KEY_BYTES:
        raise ValidationError(
            f"the bundle encryption key must be 32 bytes, got {len(key)}", field="encryption_key"
        )
