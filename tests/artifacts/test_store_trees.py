"""Folders in and out of the store; nothing escapes, pickle is refused."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from lmops_core.artifacts.local import LocalArtifactBackend
from lmops_core.artifacts.store import ArtifactStore, TreeEntry, TreeManifest
from lmops_core.digests import digest_bytes
from lmops_core.errors import UnsafeContentError, UnsafePathError
from tests.conftest import make_model_folder


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(LocalArtifactBackend(tmp_path / "store"))


def test_tree_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    src = make_model_folder(tmp_path / "model")
    (src / "tokenizer").mkdir()
    (src / "tokenizer" / "vocab.txt").write_text("a\nb\n")
    info, manifest = store.put_tree(src)
    assert sorted(e.path for e in manifest.entries) == [
        "config.json",
        "model.safetensors",
        "tokenizer/vocab.txt",
    ]
    out = store.export_tree(info.digest, tmp_path / "out")
    for entry in manifest.entries:
        assert (out / entry.path).read_bytes() == (src / entry.path).read_bytes()
    again, _ = store.put_tree(src)
    assert again.digest == info.digest and not again.created


def test_symlinks_are_refused(store: ArtifactStore, tmp_path: Path) -> None:
    src = make_model_folder(tmp_path / "model")
    os.symlink("/etc/passwd", src / "passwd")
    with pytest.raises(UnsafePathError, match="refusing symbolic link"):
        store.put_tree(src)


def test_pickle_weights_refused_unless_allowed(store: ArtifactStore, tmp_path: Path) -> None:
    src = make_model_folder(tmp_path / "model")
    (src / "extra.safetensors").write_bytes(pickle.dumps({"w": [1, 2, 3]}))
    with pytest.raises(UnsafeContentError, match=r"extra\.safetensors: it contains pickle"):
        store.put_tree(src)
    assert list(store.backend.iter_digests()) == []
    info, _ = store.put_tree(src, allow_pickle=True)
    assert store.backend.exists(info.digest)


@pytest.mark.parametrize(
    "member",
    [
        "../evil",
        "..\\evil",
        "/etc/passwd",
        "a/../../evil",
        "%2e%2e/evil",
        "%252e%252e%252fevil",
        "file:///etc/passwd",
        "C:/windows/x",
    ],
)
def test_manifest_members_cannot_escape(store: ArtifactStore, tmp_path: Path, member: str) -> None:
    blob = store.put_bytes(b"payload")
    manifest = TreeManifest(entries=(TreeEntry(path=member, digest=blob.digest, size=7),))
    forged = store.put_bytes(manifest.to_bytes())
    with pytest.raises(UnsafePathError, match="refusing tree member"):
        store.export_tree(forged.digest, tmp_path / "out")
    assert not (tmp_path / "evil").exists()


def test_export_of_corrupt_blob_leaves_no_file(store: ArtifactStore, tmp_path: Path) -> None:
    info = store.put_bytes(b"good content")
    blob = store.backend.local_path(info.digest)  # type: ignore[attr-defined]
    blob.chmod(0o644)
    blob.write_bytes(b"bad content!")
    from lmops_core.errors import IntegrityError

    with pytest.raises(IntegrityError):
        store.export_file(info.digest, tmp_path / "out.bin")
    assert not (tmp_path / "out.bin").exists()
    assert digest_bytes(b"good content") == info.digest
