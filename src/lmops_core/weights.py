"""Recognising pickle-based files by their content, whatever they are called.

Pickle can run arbitrary code when loaded, so model weights are accepted as
safetensors or ONNX and pickle content is refused unless a caller opts in.
Detection looks at bytes: the pickle protocol header, the opcode stream of
old protocols, zip archives holding ``*.pkl`` members (``torch.save``), and
the same wrapped in gzip, bzip2, xz or zstd.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickletools
import zipfile
from pathlib import Path

from lmops_core.errors import UnsafeContentError

_HEAD = 4096
_PROTO0_FIRST_OPCODES = frozenset(b"(}]cl)dIFLSVNGJKM")
_SMALL_FILE = 64 * 1024 * 1024
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _looks_like_pickle_bytes(data: bytes, *, complete: bool) -> bool:
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return True
    if not data or data[0] not in _PROTO0_FIRST_OPCODES:
        return False
    if not complete:
        return False
    try:
        ops = list(pickletools.genops(io.BytesIO(data)))
    except Exception:  # noqa: BLE001 - any parse failure means "not a pickle"
        return False
    return bool(ops) and ops[-1][0].name == "STOP"


def _decompressed_head(data: bytes) -> bytes | None:
    try:
        if data.startswith(b"\x1f\x8b"):
            return gzip.GzipFile(fileobj=io.BytesIO(data)).read(_HEAD)
        if data.startswith(b"BZh"):
            return bz2.BZ2Decompressor().decompress(data)[:_HEAD]
        if data.startswith(b"\xfd7zXZ\x00"):
            return lzma.LZMADecompressor().decompress(data, max_length=_HEAD)
    except (OSError, EOFError, lzma.LZMAError, ValueError):
        return None
    return None


def _zstd_head(path: Path) -> bytes | None:
    try:
        import zstandard  # type: ignore[import-not-found]
    except ImportError:
        return None
    with open(path, "rb") as fh:
        reader = zstandard.ZstdDecompressor().stream_reader(fh)
        head: bytes = reader.read(_HEAD)
        return head


def is_pickle_file(path: Path) -> bool:
    """True if the file's content is pickle, a zip of pickles, or compressed pickle."""
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
    size = path.stat().st_size
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                return any(n.endswith((".pkl", ".pickle")) or n.endswith("/data.pkl")
                           for n in zf.namelist())
        except zipfile.BadZipFile:
            return False
    if head.startswith(_ZSTD_MAGIC):
        inner = _zstd_head(path)
        # Without the zstandard module we cannot look inside: refuse, fail closed.
        return True if inner is None else _looks_like_pickle_bytes(inner, complete=False)
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        data = path.read_bytes() if size <= _SMALL_FILE else head
        inner = _decompressed_head(data)
        return inner is not None and _looks_like_pickle_bytes(inner, complete=False)
    if size <= _SMALL_FILE and head and head[0] in _PROTO0_FIRST_OPCODES:
        return _looks_like_pickle_bytes(path.read_bytes(), complete=True)
    return _looks_like_pickle_bytes(head, complete=False)


def refuse_pickle(path: Path, *, display_name: str | None = None, allow: bool = False) -> None:
    """Raise :class:`UnsafeContentError` if ``path`` holds pickle content and ``allow`` is False."""
    if allow:
        return
    if is_pickle_file(path):
        name = display_name or str(path)
        raise UnsafeContentError(
            f"refusing {name}: it contains pickle data, which can run code when loaded; "
            "convert the weights to safetensors, or pass allow_pickle=True if you trust the source",
            file=name,
        )
