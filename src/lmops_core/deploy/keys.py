"""Ed25519 signing keys for bundles, kept under ``LMOPS_HOME/keys``.

Each key is ``<key_id>.key`` (private, PKCS#8 PEM, mode 0600) and
``<key_id>.pub`` (public PEM); ``active`` names the key that signs. Rotation
makes a new key active and deletes the old *private* key, but keeps its public
key, so bundles signed before the rotation still verify.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from lmops_core.digests import digest_bytes, hex_part
from lmops_core.errors import ConfigurationError, NotFoundError, ValidationError
from lmops_core.file_lock import exclusive

_ACTIVE = "active"
#: Held (``flock``) while the folder's keys change: by one process or thread at a time.
_LOCK = ".lock"


@dataclass(frozen=True)
class KeyInfo:
    """A key the store knows: its id, whether it signs now, whether its private half exists."""

    key_id: str
    active: bool
    has_private: bool
    public_path: Path


def key_id_of(public: Ed25519PublicKey) -> str:
    """A short stable id: the first 16 hex digits of the raw public key's sha256."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hex_part(digest_bytes(raw))[:16]


def public_pem(public: Ed25519PublicKey) -> bytes:
    """The public key as SubjectPublicKeyInfo PEM."""
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public_key_file(path: Path) -> tuple[str, Ed25519PublicKey]:
    """``(key_id, key)`` from an exported public key PEM file."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValidationError(f"{path}: not a PEM public key ({exc})", file=str(path)) from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValidationError(f"{path}: not an Ed25519 public key", file=str(path))
    return key_id_of(key), key


@functools.lru_cache(maxsize=8)
def _private_key(path: str, _mtime_ns: int, _size: int, _inode: int) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file ``path`` (cached per path and file state)."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"{path} is not an Ed25519 private key")
    return key


class KeyStore:
    """The bundle signing keys of one lmops home."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @classmethod
    def for_home(cls, home: Path) -> KeyStore:
        """The key store under an lmops home folder."""
        return cls(Path(home) / "keys" / "bundle-signing")

    def _ensure_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)

    def active_id(self) -> str | None:
        """The id of the key that signs new bundles, or None before ``create``."""
        # One open, no stat first: every decision signed by the server asks this.
        try:
            with open(self.folder / _ACTIVE, encoding="ascii") as fh:
                return fh.read().strip() or None
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Held while keys are made or rotated: API worker processes that each make their
        first decision at once on a fresh home must not each make (and activate) a key."""
        self._ensure_folder()
        with exclusive(self.folder / _LOCK):
            yield

    def create(self) -> KeyInfo:
        """Create a new key pair and make it active (the first key; see :meth:`rotate`)."""
        with self._changing():
            active = self.active_id()
            if active is not None:
                raise ValidationError(
                    f"{self.folder} already has an active key {active}; use rotate to replace it"
                )
            return self._new_active()

    def ensure_active(self) -> str:
        """The active key's id; the first key is created if there is none, once, whoever
        else (process or thread) asks at the same moment."""
        active = self.active_id()
        if active is not None:
            return active
        with self._changing():
            return self.active_id() or self._new_active().key_id

    def rotate(self) -> KeyInfo:
        """Replace the active key; the old private key is deleted, its public key kept."""
        with self._changing():
            old = self.active_id()
            if old is None:
                raise NotFoundError(f"no active key in {self.folder} to rotate; create one first")
            info = self._new_active()
            (self.folder / f"{old}.key").unlink(missing_ok=True)
            return info

    def _new_active(self) -> KeyInfo:
        """A new key, made active (the caller holds :meth:`_changing`)."""
        private = Ed25519PrivateKey.generate()
        key_id = key_id_of(private.public_key())
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        # Created 0600 from the start: no window in which another user can read it.
        fd = os.open(self.folder / f"{key_id}.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        (self.folder / f"{key_id}.pub").write_bytes(public_pem(private.public_key()))
        # A temporary file of its own, renamed over ``active``: readers see the old id or
        # the new one, never a file being written.
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f"{_ACTIVE}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key_id)
        os.replace(tmp, self.folder / _ACTIVE)
        return self._info(key_id)

    def _info(self, key_id: str) -> KeyInfo:
        return KeyInfo(
            key_id=key_id,
            active=key_id == self.active_id(),
            has_private=(self.folder / f"{key_id}.key").is_file(),
            public_path=self.folder / f"{key_id}.pub",
        )

    def list(self) -> list[KeyInfo]:
        """Every key with a public half, active first."""
        if not self.folder.is_dir():
            return []
        ids = sorted(p.stem for p in self.folder.glob("*.pub"))
        return sorted((self._info(i) for i in ids), key=lambda k: (not k.active, k.key_id))

    def public_key(self, key_id: str) -> Ed25519PublicKey:
        """The public key with this id."""
        path = self.folder / f"{key_id}.pub"
        if not path.is_file():
            raise NotFoundError(f"no public key {key_id!r} in {self.folder}")
        found_id, key = load_public_key_file(path)
        if found_id != key_id:
            raise ConfigurationError(f"{path} holds key {found_id}, not {key_id}")
        return key

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """All public keys by id (current and rotated out), for verification."""
        return {k.key_id: self.public_key(k.key_id) for k in self.list()}

    def export_public(self, key_id: str | None = None) -> bytes:
        """The PEM of a public key (default: the active one)."""
        key_id = key_id or self.active_id()
        if key_id is None:
            raise NotFoundError(f"no active key in {self.folder}")
        return public_pem(self.public_key(key_id))

    def signing_key(self) -> tuple[str, Ed25519PrivateKey]:
        """``(key_id, private key)`` of the active key."""
        key_id = self.active_id()
        if key_id is None:
            raise NotFoundError(f"no signing key in {self.folder}: run `lmops keys create`")
        path = self.folder / f"{key_id}.key"
        if not path.is_file():
            raise ConfigurationError(f"the active key {key_id} has no private key file {path}")
        stat = path.stat()
        if stat.st_mode & 0o077:
            raise ConfigurationError(f"{path} is readable by other users; chmod 600 it")
        # Every decision made by token signs with this key: parse the file once per version
        # of it (a rewritten file has a new mtime, a rotated key another path).
        return key_id, _private_key(str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)
