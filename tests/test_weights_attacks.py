"""Attacks on the model-file check: every known way to slip a pickle past it must fail.

Each payload would run ``os.system`` if unpickled; the tests never unpickle them.
The check decides by parsing what a file is, so names and first bytes do not matter.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lmops_core.artifacts.local import LocalArtifactBackend
from lmops_core.artifacts.store import ArtifactStore
from lmops_core.errors import UnsafeContentError, UnsafePathError
from lmops_core.weights import check_files, classify, is_pickle_file


class _RunsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


def _payload(protocol: int) -> bytes:
    return pickle.dumps({"w": _RunsCode()}, protocol=protocol)


PROTO0 = b"cos\nsystem\n(S'echo pwned'\ntR."


def _odd_starts() -> dict[str, bytes]:
    """Pickles whose first byte is not PROTO nor one of the old 'usual' first opcodes."""
    out = {
        "binint-then-pop": b"J\x01\x00\x00\x000" + PROTO0,
        "short-binstring-then-pop": b"U\x03abc0" + PROTO0,
        "binunicode-then-pop": b"X\x03\x00\x00\x00abc0" + PROTO0,
        "put-after-none": b"Np0\n0" + PROTO0,
        "newtrue-then-pop": b"\x880" + PROTO0,
        "empty-set-then-pop": b"\x8f0" + PROTO0,
    }
    for protocol in (2, 3, 4, 5):
        out[f"protocol-{protocol}-without-proto"] = _payload(protocol)[2:]
    return out


@pytest.mark.parametrize("name", sorted(_odd_starts()))
def test_pickles_with_unusual_first_opcodes_are_found(tmp_path: Path, name: str) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(_odd_starts()[name])
    assert is_pickle_file(path)
    assert not classify(path).safe


def test_a_large_pickle_is_parsed_to_its_end(tmp_path: Path) -> None:
    # 70 MB of harmless-looking string first: the old check only looked at the head.
    path = tmp_path / "weights.bin"
    with open(path, "wb") as fh:
        fh.write(b"V" + b"a" * (70 << 20) + b"\n0")
        fh.write(PROTO0)
    assert path.stat().st_size > 64 << 20
    assert is_pickle_file(path)


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
@pytest.mark.parametrize("body", ["proto0", "odd-start", "large-head"])
def test_compressed_pickles_are_parsed_through(tmp_path: Path, compress: object, body: str) -> None:
    data = {
        "proto0": PROTO0,
        "odd-start": _odd_starts()["binint-then-pop"],
        "large-head": b"V" + b"b" * (8 << 20) + b"\n0" + PROTO0,
    }[body]
    path = tmp_path / "weights.bin"
    path.write_bytes(compress(data))  # type: ignore[operator]
    assert is_pickle_file(path)


def test_zip_members_are_probed_whatever_their_names(tmp_path: Path) -> None:
    path = tmp_path / "archive.bin"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/readme.txt", "hello")
        zf.writestr("archive/tensors", PROTO0)  # no .pkl suffix
    assert is_pickle_file(path)
    nested = tmp_path / "nested.bin"
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr("x", _payload(4))
    with zipfile.ZipFile(nested, "w") as zf:
        zf.writestr("inner.zip", inner.getvalue())
    assert is_pickle_file(nested)


def test_object_arrays_in_npy_are_refused(tmp_path: Path) -> None:
    obj = tmp_path / "embeddings.npy"
    np.save(obj, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    plain = tmp_path / "plain.npy"
    np.save(plain, np.arange(6, dtype=np.float32).reshape(2, 3))
    assert classify(plain).safe and classify(plain).format == "npy"
    verdict = classify(obj)
    assert not verdict.safe
    with pytest.raises(UnsafeContentError, match="embeddings.npy"):
        check_files([("embeddings.npy", obj)], folder="m")


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("name", ["adapter_model.bin", "adapter_model.json", "tokenizer.model"])
def test_peft_adapter_bin_files_are_refused(tmp_path: Path, legacy: bool, name: str) -> None:
    import torch

    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    torch.save(
        {"base_model.model.lm_head.lora_A.weight": torch.zeros(2, 2)},
        folder / name,
        _use_new_zipfile_serialization=not legacy,
    )
    store = ArtifactStore(LocalArtifactBackend(tmp_path / "store"))
    with pytest.raises(UnsafeContentError, match=name):
        store.put_tree(folder)


def test_unknown_binary_is_refused_and_allow_pickle_is_reported(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text('{"hidden_size": 8}')
    (folder / "blob.bin").write_bytes(bytes(range(256)) * 4)
    store = ArtifactStore(LocalArtifactBackend(tmp_path / "store"))
    with pytest.raises(UnsafeContentError, match="blob.bin: it is not a format known to be safe"):
        store.put_tree(folder)
    accepted: list[dict[str, str]] = []
    store.put_tree(folder, allow_pickle=True, accepted_unsafe=accepted)
    assert [a["file"] for a in accepted] == ["blob.bin"]


def test_safe_formats_are_accepted(tmp_path: Path) -> None:
    header = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    files = {
        "model.safetensors": struct.pack("<Q", len(header)) + header + b"\x00" * 8,
        "config.json": b'{"hidden_size": 64}',
        "merges.txt": "#version: 0.2\n\xc4\xa0 t\n".encode(),
        "chat_template.jinja": b"{% for m in messages %}{{ m.content }}{% endfor %}",
        "README.md": "# 模型\n".encode(),
    }
    folder = tmp_path / "m"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    assert check_files([(n, folder / n) for n in files], folder="m") == []


def _sentencepiece(pieces: list[str]) -> bytes:
    out = b""
    for text in pieces:
        raw = text.encode()
        piece = b"\x0a" + bytes([len(raw)]) + raw + b"\x15" + struct.pack("<f", -1.0) + b"\x18\x01"
        out += b"\x0a" + bytes([len(piece)]) + piece
    return out


def test_sentencepiece_models_are_parsed_not_trusted_by_name(tmp_path: Path) -> None:
    good = tmp_path / "tokenizer.model"
    good.write_bytes(_sentencepiece(["<unk>", "\u2581the", "s"]))
    assert classify(good).format == "sentencepiece" and classify(good).safe
    bad = tmp_path / "spiece.model"
    bad.write_bytes(_sentencepiece(["a"]) + b"\x80\x01garbage")
    assert not classify(bad).safe


def test_a_text_pickle_is_still_a_pickle(tmp_path: Path) -> None:
    path = tmp_path / "vocab.txt"  # proto-0 pickle is plain ASCII text
    path.write_bytes(PROTO0 + b"\nmore text\n")
    verdict = classify(path)
    assert verdict.pickle and not verdict.safe


def test_a_forged_safetensors_header_is_refused(tmp_path: Path) -> None:
    header = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,80000]}}'
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 8)
    assert not classify(path).safe


def test_onnx_external_data_must_be_named_by_a_model(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from onnx.external_data_helper import convert_model_to_external_data

    weight = numpy_helper.from_array(np.ones((4, 4), dtype=np.float32), name="W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [weight],
    )
    model = helper.make_model(graph)
    convert_model_to_external_data(model, location="model.onnx.data", size_threshold=0)
    folder = tmp_path / "onnx"
    folder.mkdir()
    onnx.save_model(model, str(folder / "model.onnx"))
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["model.onnx", "model.onnx.data"]
    assert classify(folder / "model.onnx").format == "onnx"
    assert check_files([(n, folder / n) for n in names], folder="onnx") == []
    # The same raw bytes under a name no model points at are just unknown binary.
    (folder / "model.onnx.data").rename(folder / "stray.data")
    with pytest.raises(UnsafeContentError, match="stray.data"):
        check_files(
            [("model.onnx", folder / "model.onnx"), ("stray.data", folder / "stray.data")],
            folder="onnx",
        )


def test_hard_links_are_refused_like_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("root:x:0:0\n")
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    os.link(outside, folder / "vocab.txt")
    store = ArtifactStore(LocalArtifactBackend(tmp_path / "store"))
    with pytest.raises(UnsafePathError, match="hard link"):
        store.put_tree(folder)


def test_a_file_swapped_after_the_check_is_caught_in_the_store(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "a.txt").write_text("first file\n")
    (folder / "z.json").write_text('{"ok": true}')
    swapped: list[bool] = []

    def swap(_: int) -> None:  # runs while a.txt is being stored, after the folder check
        if not swapped:
            (folder / "z.json").write_bytes(PROTO0)
            swapped.append(True)

    store = ArtifactStore(LocalArtifactBackend(tmp_path / "store"))
    with pytest.raises(UnsafeContentError, match="z.json: it contains pickle data"):
        store.put_tree(folder, progress=swap)
    assert swapped
