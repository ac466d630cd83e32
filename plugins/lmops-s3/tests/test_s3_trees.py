"""Folders into an S3 store: checked on a private copy of the files, never read back."""

from __future__ import annotations

import collections
import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from lmops_s3.backend import S3ArtifactBackend

from lmops_core.artifacts.store import ArtifactStore
from lmops_core.digests import digest_bytes, digest_file
from lmops_core.errors import UnsafeContentError

MiB = 1 << 20
A_PICKLE = pickle.dumps(collections.OrderedDict(a=1))  # loading it imports a class


def _folder(root: Path) -> Path:
    root.mkdir()
    payload = 6 * MiB  # two parts of the fixture's 5 MiB
    header = json.dumps({"w": {"dtype": "U8", "shape": [payload], "data_offsets": [0, payload]}})
    with open(root / "model.safetensors", "wb") as fh:
        fh.write(len(header).to_bytes(8, "little") + header.encode() + bytes(payload))
    (root / "z.json").write_text('{"ok": true}')
    return root


def _reads(store: S3ArtifactBackend) -> list[str]:
    """The paths of every GetObject the store's client sends from now on."""
    keys: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        keys.append(params["url_path"])

    store.client.meta.events.register("before-call.s3.GetObject", record)
    return keys


def test_a_folder_is_stored_without_reading_a_blob_back(
    store: S3ArtifactBackend, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "m")
    reads = _reads(store)
    info, manifest = ArtifactStore(store).put_tree(folder)
    assert reads == []
    assert {e.path: e.digest for e in manifest.entries} == {
        name: digest_file(folder / name) for name in ("model.safetensors", "z.json")
    }
    assert store.exists(info.digest) and all(store.verify(e.digest) for e in manifest.entries)


def test_the_bytes_checked_are_the_bytes_stored_when_a_file_changes_meanwhile(
    store: S3ArtifactBackend, tmp_path: Path
) -> None:
    folder = _folder(tmp_path / "m")
    checked = (folder / "z.json").read_bytes()
    swapped: list[int] = []

    def swap(_: int) -> None:  # while the weights are sent, after the check
        if not swapped:
            (folder / "z.json").write_bytes(A_PICKLE)
            swapped.append(1)

    _, manifest = ArtifactStore(store).put_tree(folder, progress=swap)
    assert swapped
    stored = {e.path: e.digest for e in manifest.entries}["z.json"]
    assert stored == digest_bytes(checked) and not store.exists(digest_bytes(A_PICKLE))


def test_a_refused_folder_stores_nothing(store: S3ArtifactBackend, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "m")
    (folder / "extra.bin").write_bytes(A_PICKLE)
    with pytest.raises(UnsafeContentError, match=r"m/extra\.bin: it contains pickle data"):
        ArtifactStore(store).put_tree(folder)
    assert list(store.iter_digests()) == []
    accepted: list[dict[str, str]] = []
    ArtifactStore(store).put_tree(folder, allow_pickle=True, accepted_unsafe=accepted)
    assert [a["file"] for a in accepted] == ["extra.bin"]
