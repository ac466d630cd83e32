"""Writing a bundle folder from a folder of plaintext files, signed and optionally encrypted."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lmops_core.deploy import encryption
from lmops_core.deploy.manifest import (
    BUNDLE_FORMAT,
    MANIFEST,
    MEMBERS_DIR,
    SIGNATURE,
    Member,
    canonical_bytes,
    manifest_digest,
    sign,
)
from lmops_core.errors import UnsafePathError, ValidationError
from lmops_core.safepaths import join_inside, safe_relative_path
from lmops_core.weights import refuse_pickle


def _sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _source_files(folder: Path) -> list[tuple[str, Path]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        base = Path(dirpath)
        dirnames.sort()
        for name in sorted([*dirnames, *filenames]):
            if (base / name).is_symlink():
                raise UnsafePathError(f"refusing symbolic link {base / name}")
        for name in sorted(filenames):
            rel = (base / name).relative_to(folder).as_posix()
            out.append((str(safe_relative_path(rel, what="bundle member")), base / name))
    if not out:
        raise ValidationError(f"{folder} holds no files to bundle", file=str(folder))
    return out


def write_bundle(
    source: Path,
    dest: Path,
    *,
    header: Mapping[str, Any],
    key_id: str,
    signing_key: Ed25519PrivateKey,
    encryption_key: bytes | None = None,
) -> tuple[str, dict[str, Any]]:
    """Write ``dest`` (must not exist) from the files of ``source``; returns (digest, manifest).

    ``header`` holds the descriptive sections (model, lineage, approval...);
    members, format, key id and encryption are filled in here.
    """
    if dest.exists():
        raise ValidationError(f"bundle destination {dest} already exists", file=str(dest))
    if encryption_key is not None:
        encryption.check_key_length(encryption_key)
    files = _source_files(source)
    for rel, path in files:
        refuse_pickle(path, display_name=f"{source}/{rel}")
    members_dir = dest / MEMBERS_DIR
    members_dir.mkdir(parents=True)
    members = []
    for rel, path in files:
        data = path.read_bytes()
        target = join_inside(members_dir, rel, what="bundle member")
        target.parent.mkdir(parents=True, exist_ok=True)
        if encryption_key is None:
            target.write_bytes(data)
            members.append(Member(path=rel, sha256=_sha256(data), size=len(data)))
            continue
        sealed, nonce = encryption.encrypt(encryption_key, rel, data)
        target.write_bytes(sealed)
        members.append(
            Member(
                path=rel,
                sha256=_sha256(data),
                size=len(data),
                ciphertext_sha256=_sha256(sealed),
                ciphertext_size=len(sealed),
                nonce=nonce,
            )
        )
    manifest = {
        **header,
        "format": BUNDLE_FORMAT,
        "key_id": key_id,
        "members": [m.to_json() for m in members],
        "encryption": None
        if encryption_key is None
        else {"algorithm": encryption.ALGORITHM, "key_check": encryption.key_check(encryption_key)},
    }
    body = canonical_bytes(manifest)
    (dest / MANIFEST).write_bytes(body)
    (dest / SIGNATURE).write_bytes(sign(body, key_id, signing_key))
    return manifest_digest(body), manifest
