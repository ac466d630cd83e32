"""Deployment bundles: packaging approved versions, verification, tampering, encryption, keys."""

from __future__ import annotations

import io
import json
import os
import pickle
import stat
import tarfile
from pathlib import Path

import pytest

from lmops_core.deploy import KeyStore, create_bundle, load_bundle
from lmops_core.deploy.manifest import MANIFEST, SIGNATURE, canonical_bytes, sign
from lmops_core.errors import (
    ConflictError,
    IntegrityError,
    PolicyViolationError,
    UnsafeContentError,
    UnsafePathError,
    ValidationError,
)
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder
from tests.deploy.helpers import governed_workspace, register_and_promote


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = governed_workspace(tmp_path)
    KeyStore.for_home(workspace.settings.home).create()
    yield workspace
    workspace.close()


@pytest.fixture
def keys(ws: Workspace) -> KeyStore:
    return KeyStore.for_home(ws.settings.home)


@pytest.fixture
def bundle(ws: Workspace, tmp_path: Path) -> Path:
    ref = register_and_promote(ws, make_model_folder(tmp_path / "m", b"\x07" * 64))
    return create_bundle(
        ws.as_actor("deployer"), ref, tmp_path / "b", stage="production", archive=True
    ).path


def test_package_verify_load(ws: Workspace, keys: KeyStore, bundle: Path, tmp_path: Path) -> None:
    loaded = load_bundle(bundle, public_keys=keys.public_keys(), workdir=tmp_path / "out")
    assert loaded.model_ref == "model:chat@1" and loaded.stage == "production"
    assert (loaded.folder / "model.safetensors").read_bytes() == (
        tmp_path / "m" / "model.safetensors"
    ).read_bytes()
    m = loaded.manifest
    assert {x["path"] for x in m["members"]} == {"config.json", "model.safetensors"}
    assert all(x["sha256"].startswith("sha256:") and x["size"] > 0 for x in m["members"])
    roles = {d["role"]: d["comment"] for d in m["approval"]["decisions"]}
    assert roles == {"validator": "validated on holdout", "risk_officer": "risk accepted"}
    assert m["approval"]["snapshot_digest"].startswith("sha256:")
    assert m["policy_digests"] == ws.governance.policies().digests
    assert m["key_id"] == loaded.key_id == keys.active_id()
    # The archive verifies the same way, to the same digest.
    from_tar = load_bundle(
        bundle.with_name("b.tar"), public_keys=keys.public_keys(), workdir=tmp_path / "out2"
    )
    assert from_tar.digest == loaded.digest
    # Recorded as a deployment action: evidence and audit event on the version.
    ev = ws.evidence("model:chat@1", kind="bundle")
    assert len(ev) == 1 and ev[0].metrics["bundle_digest"] == loaded.digest
    assert ev[0].metrics["key_id"] == loaded.key_id and ev[0].metrics["stage"] == "production"
    event = ws.audit_events(action="bundle.create")[0]
    assert event.actor == "deployer" and event.after["bundle_digest"] == loaded.digest
    assert ws.verify_audit().ok


def _flip_byte(path: Path, offset: int = -1) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_one_byte_changed_in_weights_is_refused(
    keys: KeyStore, bundle: Path, tmp_path: Path
) -> None:
    _flip_byte(bundle / "files" / "model.safetensors")
    with pytest.raises(IntegrityError, match="model.safetensors: content does not match"):
        load_bundle(bundle, public_keys=keys.public_keys(), workdir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_one_byte_changed_in_manifest_is_refused(
    keys: KeyStore, bundle: Path, tmp_path: Path
) -> None:
    text = (bundle / MANIFEST).read_text()
    (bundle / MANIFEST).write_text(text.replace('"stage":"production"', '"stage":"productioN"'))
    with pytest.raises(IntegrityError, match="signature by key .* does not match"):
        load_bundle(bundle, public_keys=keys.public_keys(), workdir=tmp_path / "out")


def test_untrusted_key_is_refused(bundle: Path, tmp_path: Path) -> None:
    other = KeyStore(tmp_path / "other-keys")
    other.create()
    with pytest.raises(IntegrityError, match="not among the trusted public keys"):
        load_bundle(bundle, public_keys=other.public_keys(), workdir=tmp_path / "out")


def test_unlisted_member_is_refused(keys: KeyStore, bundle: Path, tmp_path: Path) -> None:
    (bundle / "files" / "extra.json").write_text("{}")
    with pytest.raises(UnsafeContentError, match="files/extra.json is not listed"):
        load_bundle(bundle, public_keys=keys.public_keys(), workdir=tmp_path / "out")


def test_symlink_member_in_folder_is_refused(keys: KeyStore, bundle: Path, tmp_path: Path) -> None:
    target = bundle / "files" / "config.json"
    (tmp_path / "elsewhere.json").write_bytes(target.read_bytes())
    target.unlink()
    target.symlink_to(tmp_path / "elsewhere.json")
    with pytest.raises(UnsafeContentError, match="config.json is a symbolic link"):
        load_bundle(bundle, public_keys=keys.public_keys(), workdir=tmp_path / "out")


def test_unapproved_version_cannot_be_packaged(ws: Workspace, tmp_path: Path) -> None:
    ref = register_and_promote(ws, make_model_folder(tmp_path / "m"), promote=False)
    with pytest.raises(ConflictError, match="is in stage none, not production"):
        create_bundle(ws, ref, tmp_path / "b", stage="production")
    assert not (tmp_path / "b").exists()
    assert ws.evidence(ref, kind="bundle") == []


def test_policy_change_after_approval_blocks_packaging(ws: Workspace, tmp_path: Path) -> None:
    ref = register_and_promote(ws, make_model_folder(tmp_path / "m"))
    policy = tmp_path / "policies" / "deploy.yaml"
    policy.write_text(policy.read_text().replace("acc >= 0.5", "acc >= 0.6"))
    with pytest.raises(PolicyViolationError, match="deploy.yaml changed .* after request"):
        create_bundle(ws, ref, tmp_path / "b", stage="production")
    assert not (tmp_path / "b").exists()


def test_new_policy_file_after_approval_blocks_packaging(ws: Workspace, tmp_path: Path) -> None:
    ref = register_and_promote(ws, make_model_folder(tmp_path / "m"))
    extra = (
        (tmp_path / "policies" / "deploy.yaml")
        .read_text()
        .replace("name: deploy-policy", "name: extra-policy")
    )
    (tmp_path / "policies" / "extra.yaml").write_text(extra)
    with pytest.raises(PolicyViolationError, match="extra.yaml now govern"):
        create_bundle(ws, ref, tmp_path / "b", stage="production")


def test_wrong_stage_is_refused(ws: Workspace, tmp_path: Path) -> None:
    ref = register_and_promote(ws, make_model_folder(tmp_path / "m"))
    with pytest.raises(ConflictError, match="not staging"):
        create_bundle(ws, ref, tmp_path / "b", stage="staging")


def _tar_with(
    tmp_path: Path, bundle: Path, extra: tarfile.TarInfo, data: bytes | None = None
) -> Path:
    out = tmp_path / "evil.tar"
    with tarfile.open(out, "w") as tf:
        for path in sorted(bundle.rglob("*")):
            if path.is_file():
                tf.add(path, arcname=path.relative_to(bundle).as_posix())
        tf.addfile(extra, io.BytesIO(data) if data is not None else None)
    return out


@pytest.mark.parametrize("name", ["../escape.txt", "files/../../escape.txt", "/etc/evil"])
def test_tar_traversal_is_refused(keys: KeyStore, bundle: Path, tmp_path: Path, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.size = 3
    archive = _tar_with(tmp_path, bundle, info, b"bad")
    with pytest.raises(UnsafePathError, match="refusing"):
        load_bundle(archive, public_keys=keys.public_keys(), workdir=tmp_path / "out")
    assert not (tmp_path / "escape.txt").exists()


@pytest.mark.parametrize(
    ("kind", "label"), [(tarfile.SYMTYPE, "a symbolic link"), (tarfile.LNKTYPE, "a hard link")]
)
def test_tar_links_are_refused(
    keys: KeyStore, bundle: Path, tmp_path: Path, kind: bytes, label: str
) -> None:
    info = tarfile.TarInfo("files/tokenizer.json")
    info.type = kind
    info.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else "manifest.json"
    archive = _tar_with(tmp_path, bundle, info)
    with pytest.raises(UnsafeContentError, match=f"files/tokenizer.json' is {label}"):
        load_bundle(archive, public_keys=keys.public_keys(), workdir=tmp_path / "out")


def test_signed_pickle_member_is_refused(keys: KeyStore, bundle: Path, tmp_path: Path) -> None:
    # Even a manifest signed with a trusted key cannot smuggle pickle content in.
    payload = pickle.dumps({"weights": [1, 2, 3]})
    (bundle / "files" / "extra.bin").write_bytes(payload)
    body = json.loads((bundle / MANIFEST).read_bytes())
    import hashlib

    body["members"].append(
        {
            "path": "extra.bin",
            "size": len(payload),
            "sha256": f"sha256:{hashlib.sha256(payload).hexdigest()}",
        }
    )
    raw = canonical_bytes(body)
    (bundle / MANIFEST).write_bytes(raw)
    key_id, private = keys.signing_key()
    (bundle / SIGNATURE).write_bytes(sign(raw, key_id, private))
    with pytest.raises(UnsafeContentError, match="bundle member extra.bin: it contains pickle"):
        load_bundle(bundle, public_keys=keys.public_keys(), workdir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_encrypted_round_trip_and_wrong_key(ws: Workspace, keys: KeyStore, tmp_path: Path) -> None:
    ref = register_and_promote(ws, make_model_folder(tmp_path / "m", b"secret-weights" * 8))
    key = os.urandom(32)
    info = create_bundle(ws, ref, tmp_path / "b", stage="production", encryption_key=key)
    stored = (info.path / "files" / "model.safetensors").read_bytes()
    assert b"secret-weights" not in stored
    members = json.loads((info.path / MANIFEST).read_bytes())["members"]
    assert len({m["nonce"] for m in members}) == len(members)
    assert all(m["ciphertext_sha256"] != m["sha256"] for m in members)
    loaded = load_bundle(
        info.path, public_keys=keys.public_keys(), decryption_key=key, workdir=tmp_path / "out"
    )
    assert (loaded.folder / "model.safetensors").read_bytes() == (
        tmp_path / "m" / "model.safetensors"
    ).read_bytes()
    with pytest.raises(ValidationError, match="not the key this bundle was encrypted with"):
        load_bundle(
            info.path,
            public_keys=keys.public_keys(),
            decryption_key=os.urandom(32),
            workdir=tmp_path / "o2",
        )
    with pytest.raises(ValidationError, match="this bundle is encrypted"):
        load_bundle(info.path, public_keys=keys.public_keys(), workdir=tmp_path / "o3")


def test_rotation_keeps_old_bundles_verifiable(
    ws: Workspace, keys: KeyStore, bundle: Path, tmp_path: Path
) -> None:
    old = keys.active_id()
    new = keys.rotate().key_id
    assert new != old and keys.active_id() == new
    listed = {k.key_id: k for k in keys.list()}
    assert not listed[old].has_private and listed[new].has_private
    assert stat.S_IMODE((keys.folder / f"{new}.key").stat().st_mode) == 0o600
    assert (
        load_bundle(bundle, public_keys=keys.public_keys(), workdir=tmp_path / "o1").key_id == old
    )
    ref2 = register_and_promote(ws, make_model_folder(tmp_path / "m2", b"\x02" * 64))
    second = create_bundle(ws, ref2, tmp_path / "b2", stage="production")
    assert second.key_id == new
    assert (
        load_bundle(second.path, public_keys=keys.public_keys(), workdir=tmp_path / "o2").key_id
        == new
    )


def test_bundle_embeds_a_signed_audit_checkpoint(
    ws: Workspace, keys: KeyStore, bundle: Path, tmp_path: Path
) -> None:
    loaded = load_bundle(bundle, public_keys=keys.public_keys(), workdir=tmp_path / "out")
    checkpoint = loaded.manifest["audit_checkpoint"]
    assert checkpoint["format"] == "lmops.audit-checkpoint/1" and checkpoint["seq"] > 0
    assert ws.verify_audit(checkpoint=bundle / MANIFEST).ok  # the manifest serves as one


def test_a_pinned_guard_configuration_is_signed_with_the_manifest(
    ws: Workspace, keys: KeyStore, tmp_path: Path
) -> None:
    ref = register_and_promote(ws, make_model_folder(tmp_path / "m", b"\x05" * 64))
    pin = {"name": "retail", "digest": "sha256:" + "ab" * 32}
    deployer = ws.as_actor("deployer")
    for bad, field in (
        ({"name": "retail"}, 'exactly {"name"'),
        ({**pin, "digest": "sha256:xyz"}, "guard.digest: invalid digest"),
        ({**pin, "name": " "}, "guard.name: 1-128 characters"),
    ):
        with pytest.raises(ValidationError, match=field):
            create_bundle(deployer, ref, tmp_path / "bad", stage="production", guard=bad)
        assert not (tmp_path / "bad").exists()
    path = create_bundle(deployer, ref, tmp_path / "b", stage="production", guard=pin).path
    loaded = load_bundle(path, public_keys=keys.public_keys(), workdir=tmp_path / "out")
    assert loaded.guard == pin
    plain = create_bundle(deployer, ref, tmp_path / "p", stage="production").path
    assert load_bundle(plain, public_keys=keys.public_keys(), workdir=tmp_path / "o2").guard is None
