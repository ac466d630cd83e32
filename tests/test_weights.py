"""Pickle is recognised by content, under any name and any common compression."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickle
import struct
import zipfile
from pathlib import Path

import pytest

from lmops_core.errors import UnsafeContentError
from lmops_core.weights import is_pickle_file, refuse_pickle

OBJ = {"layer.weight": [0.1, 0.2], "step": 3}


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_every_pickle_protocol_is_detected(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "model.safetensors"  # a misleading name does not help
    path.write_bytes(pickle.dumps(OBJ, protocol=protocol))
    assert is_pickle_file(path)


@pytest.mark.parametrize(
    ("suffix", "compress"), [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)]
)
def test_compressed_pickle_is_detected(tmp_path: Path, suffix: str, compress: object) -> None:
    path = tmp_path / f"weights.bin{suffix}"
    path.write_bytes(compress(pickle.dumps(OBJ, protocol=4)))  # type: ignore[operator]
    assert is_pickle_file(path)


def test_torch_save_zip_is_detected(tmp_path: Path) -> None:
    import torch

    path = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(3)}, path)
    assert is_pickle_file(path)
    renamed = tmp_path / "weights.onnx"
    path.rename(renamed)
    assert is_pickle_file(renamed)


def test_zip_with_pickle_member_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "archive.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps(OBJ))
    assert is_pickle_file(path)


def test_safetensors_json_and_binary_are_not_pickle(tmp_path: Path) -> None:
    header = b'{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    st = tmp_path / "model.safetensors"
    st.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00" * 8)
    js = tmp_path / "config.json"
    js.write_text('{"hidden_size": 64}')
    raw = tmp_path / "blob.bin"
    raw.write_bytes(bytes(range(256)) * 10)
    text = tmp_path / "vocab.txt"
    text.write_text("(hello\nworld\n")
    for p in (st, js, raw, text):
        assert not is_pickle_file(p), p.name


def test_refuse_pickle_message_and_override(tmp_path: Path) -> None:
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(pickle.dumps(OBJ))
    with pytest.raises(UnsafeContentError, match="pytorch_model.bin: it contains pickle data"):
        refuse_pickle(path)
    refuse_pickle(path, allow=True)


class _NoLineReads(io.RawIOBase):
    """A decompressing stream as python-zstandard's reader is: read() works, readline() refuses."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        return self._inner.readinto(buffer)

    def readline(self, size: int | None = -1) -> bytes:
        raise io.UnsupportedOperation("readline")


def test_a_stream_that_refuses_line_reads_is_not_taken_for_safe() -> None:
    from lmops_core.weights import _probe_stream

    protocol0 = pickle.dumps({"weights": [1, 2, 3]}, protocol=0)  # text opcodes: read line by line
    reason = _probe_stream(_NoLineReads(protocol0), None)
    assert reason is not None and "possibly a pickle" in reason
    # Buffered, as the zstd branch now reads, the same stream is checked in full.
    assert _probe_stream(io.BufferedReader(_NoLineReads(protocol0)), None) == "a complete pickle"
