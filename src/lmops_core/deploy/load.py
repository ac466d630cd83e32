"""Loading a bundle: verify the signature and every member first, then hand out plaintext.

Nothing in a bundle is trusted before ``manifest.sig`` verifies over
``manifest.json`` with a trusted public key. Then the set of files on disk
must equal the members listed (no extra file, no missing one, no link), each
member's bytes must match their digest and size, encrypted members must
decrypt under the operator's key to their listed plaintext digest, and no
member may hold pickle content. Verified plaintext is written to a fresh
folder, so later changes to the bundle cannot reach what was verified.
Before any plaintext is written, the bundle's standing is checked (see
:mod:`lmops_core.deploy.liveness`): live against the store when one is given,
else by the validity period signed into the manifest.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from lmops_core.deploy import attestations, encryption
from lmops_core.deploy.archive import extract_tar
from lmops_core.deploy.liveness import LiveStore, Standing, check_standing
from lmops_core.deploy.manifest import (
    MANIFEST,
    MEMBERS_DIR,
    SIGNATURE,
    Member,
    manifest_digest,
    parse_manifest,
    verify_signature,
)
from lmops_core.errors import IntegrityError, UnsafeContentError, UnsafePathError, ValidationError
from lmops_core.safepaths import join_inside
from lmops_core.weights import refuse_pickle


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose signature and members verified; ``folder`` holds the plaintext files."""

    folder: Path
    digest: str
    key_id: str
    manifest: dict[str, Any]
    standing: Standing | None = None

    @property
    def model_ref(self) -> str:
        """The model version the bundle packages."""
        return str(self.manifest["model"]["ref"])

    @property
    def model_digest(self) -> str:
        """The digest of that version's content."""
        return str(self.manifest["model"]["digest"])

    @property
    def approval(self) -> dict[str, Any]:
        """The approval record (request id, decisions, snapshot digest)."""
        return dict(self.manifest["approval"])

    @property
    def stage(self) -> str:
        """The stage the bundle was packaged for."""
        return str(self.manifest["stage"])

    @property
    def guard(self) -> dict[str, str] | None:
        """The guard configuration the bundle pins (``name``, ``digest``, and ``ref`` when a
        registered guard version was pinned), if it pins one."""
        pinned = self.manifest.get("guard")
        return None if pinned is None else {k: str(v) for k, v in pinned.items()}


def _files_on_disk(folder: Path) -> set[str]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        base = Path(dirpath)
        for name in [*dirnames, *filenames]:
            path = base / name
            rel = path.relative_to(folder).as_posix()
            if path.is_symlink():
                raise UnsafeContentError(f"bundle member {rel} is a symbolic link", file=rel)
            if name in filenames:
                if not path.is_file():
                    raise UnsafeContentError(f"bundle member {rel} is not a regular file", file=rel)
                if path.stat().st_nlink > 1:
                    raise UnsafeContentError(
                        f"bundle member {rel} is hard-linked elsewhere", file=rel
                    )
                found.add(rel)
    return found


def _check_listing(folder: Path, members: list[Member]) -> None:
    listed = {f"{MEMBERS_DIR}/{m.path}" for m in members} | {MANIFEST, SIGNATURE}
    on_disk = _files_on_disk(folder)
    extra = sorted(on_disk - listed)
    if extra:
        raise UnsafeContentError(
            f"bundle member {extra[0]} is not listed in {MANIFEST}", file=extra[0]
        )
    missing = sorted(listed - on_disk)
    if missing:
        raise IntegrityError(f"bundle member {missing[0]} is listed but missing", file=missing[0])


def _read_member(folder: Path, member: Member) -> bytes:
    path = join_inside(folder / MEMBERS_DIR, member.path, what="bundle member")
    data = path.read_bytes()
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    if len(data) != member.stored_size or digest != member.stored_digest:
        raise IntegrityError(
            f"bundle member {member.path}: content does not match the "
            f"manifest (sha256 {digest}, expected {member.stored_digest})",
            file=member.path,
        )
    return data


def _plaintext(member: Member, data: bytes, key: bytes | None) -> bytes:
    if member.nonce is None:
        return data
    if key is None or member.ciphertext_sha256 is None:
        raise IntegrityError(f"bundle member {member.path}: encrypted, no key", file=member.path)
    plain = encryption.decrypt(key, member.path, data, member.nonce)
    digest = f"sha256:{hashlib.sha256(plain).hexdigest()}"
    if digest != member.sha256 or len(plain) != member.size:
        raise IntegrityError(
            f"bundle member {member.path}: decrypted content does not match its plaintext digest",
            file=member.path,
        )
    return plain


def _check_encryption(body: dict[str, Any], members: list[Member], key: bytes | None) -> None:
    enc = body.get("encryption")
    encrypted = [m.path for m in members if m.nonce is not None]
    if enc is None:
        if encrypted:
            raise IntegrityError(
                f"bundle member {encrypted[0]} is encrypted but the manifest "
                "declares no encryption",
                file=encrypted[0],
            )
        return
    if len(encrypted) != len(members):
        raise IntegrityError("an encrypted bundle lists plaintext members", file=MANIFEST)
    if key is None:
        raise ValidationError(
            f"this bundle is encrypted: pass its decryption key (file or ${encryption.KEY_ENV})",
            field="decryption_key",
        )
    encryption.check_key_length(key)
    if encryption.key_check(key) != enc.get("key_check"):
        raise ValidationError(
            "the decryption key is not the key this bundle was encrypted with",
            field="decryption_key",
        )


def verify_folder(
    folder: Path,
    public_keys: Mapping[str, Ed25519PublicKey],
    decryption_key: bytes | None,
    out: Path,
    *,
    store: LiveStore | None = None,
    now: datetime | None = None,
) -> VerifiedBundle:
    """Verify a bundle folder and its standing, and write its plaintext members under ``out``."""
    for name in (MANIFEST, SIGNATURE):
        path = folder / name
        if path.is_symlink() or not path.is_file():
            raise IntegrityError(f"{folder}: {name} is missing or not a regular file", file=name)
    manifest_bytes = (folder / MANIFEST).read_bytes()
    key_id = verify_signature(manifest_bytes, (folder / SIGNATURE).read_bytes(), dict(public_keys))
    body, members = parse_manifest(manifest_bytes)
    if body.get("key_id") != key_id:
        raise IntegrityError(
            f"{MANIFEST} names key {body.get('key_id')} but was signed by {key_id}", file=MANIFEST
        )
    attestations.verify(body, public_keys)  # who approved what, on which digest
    standing = check_standing(body, store=store, now=now)
    _check_listing(folder, members)
    _check_encryption(body, members, decryption_key)
    for member in members:  # every digest checked before any plaintext is produced
        _read_member(folder, member)
    out.mkdir(parents=True, exist_ok=True)
    for member in members:
        plain = _plaintext(member, _read_member(folder, member), decryption_key)
        target = join_inside(out, member.path, what="bundle member")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(plain)
        refuse_pickle(target, display_name=f"bundle member {member.path}")
    return VerifiedBundle(
        folder=out,
        digest=manifest_digest(manifest_bytes),
        key_id=key_id,
        manifest=body,
        standing=standing,
    )


def load_bundle(
    path: Path | str,
    *,
    public_keys: Mapping[str, Ed25519PublicKey],
    decryption_key: bytes | None = None,
    workdir: Path | None = None,
    store: LiveStore | None = None,
    now: datetime | None = None,
) -> VerifiedBundle:
    """Verify a bundle (folder or ``.tar``) and return its verified plaintext files.

    ``public_keys`` maps key ids to trusted Ed25519 public keys (e.g.
    ``KeyStore.public_keys()``). ``workdir`` receives the plaintext (a new
    temporary folder by default; the caller owns it). ``store`` is the
    workspace to ask whether the approval still stands (revoked or
    revalidation-required versions are refused); without one, or when it does
    not know the bundle's approval, the signed ``valid_until`` decides
    (``now`` defaults to the current time). Any failure removes what was
    written and raises an error naming the member and the reason.
    """
    path = Path(path)
    if path.is_symlink():
        raise UnsafePathError(f"refusing bundle {path}: it is a symbolic link")
    out = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="lmops-bundle-"))
    if out.exists() and any(out.iterdir()):
        raise ValidationError(f"workdir {out} is not empty", file=str(out))
    staging = Path(tempfile.mkdtemp(prefix="lmops-bundle-x-")) if path.is_file() else None
    try:
        folder = extract_tar(path, staging) if staging is not None else path
        if not folder.is_dir():
            raise ValidationError(f"{path} is neither a bundle folder nor a .tar", file=str(path))
        return verify_folder(
            folder, public_keys, decryption_key, out / "model", store=store, now=now
        )
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
