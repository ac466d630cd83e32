"""Deciding what a model file is by parsing it, and refusing what could run code.

Pickle runs arbitrary code when loaded, whatever the file is called and
however it starts. So a file is accepted only when it fully parses as a
format known to be inert: safetensors (header parsed and bounds-checked),
UTF-8 text (JSON, YAML, tokenizer vocabularies and merges, templates, code
kept as text), ONNX (protobuf walked; external data files must be named by an
ONNX model in the same folder and lie inside it), SentencePiece models
(protobuf walked), and ``.npy`` arrays whose dtype is not ``object``. Every
file, accepted format or not, is also run through a pickle probe: an
unpickler that imports and calls nothing and says whether loading would
reach an import, a persistent id, or a complete pickle. The probe looks
inside zip archives (``torch.save``) member by member and through gzip,
bzip2, xz and zstd compression, over the whole stream, whatever its size.

Anything else is refused unless the caller allows pickle (``--allow-pickle``,
which the policy must permit and which is recorded as evidence).
"""

from __future__ import annotations

import ast
import bz2
import codecs
import gzip
import io
import json
import lzma
import pickle
import re
import struct
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from lmops_core.errors import UnsafeContentError

_CHUNK = 1 << 20
_MAX_LINE = 64 << 20
_MAX_SAFETENSORS_HEADER = 100 << 20
_MAX_NESTED = 256 << 20
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZIP_MAGIC = b"PK\x03\x04"
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True)
class FileVerdict:
    """What a file is: its format, whether it holds pickle, and whether it is accepted."""

    format: str
    pickle: bool
    safe: bool
    reason: str = ""
    external_data: tuple[str, ...] = ()


# -- the pickle probe ----------------------------------------------------------


class _WouldImport(Exception):
    """Loading would import a global or resolve a persistent id: it is a code-running pickle."""


class _CannotTell(Exception):
    """The probe cannot finish safely (a giant line or read): treat as pickle, fail closed."""


class _ByteStream(Protocol):
    """What the probe reads from: a file, a zip member or a decompressing stream."""

    def read(self, n: int = ..., /) -> bytes: ...

    def readline(self, limit: int = ..., /) -> bytes: ...


class _Bounded(io.RawIOBase):
    """A reader that refuses reads past the known end, so a forged length costs nothing."""

    def __init__(self, raw: _ByteStream, size: int | None) -> None:
        self.raw = raw
        self.left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            raise _CannotTell("unbounded read")
        if self.left is not None:
            if n > self.left:
                raise EOFError("pickle data was truncated")
        elif n > _MAX_NESTED:
            raise _CannotTell(f"a {n}-byte read in a stream of unknown size")
        data = self.raw.read(n)
        if self.left is not None:
            self.left -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, limit: int | None = -1) -> bytes:
        line: bytes = self.raw.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise _CannotTell("a text line longer than 64 MiB")
        if self.left is not None:
            self.left -= len(line)
        return line


class _Probe(pickle._Unpickler):
    """The pure-Python unpickler with every way to reach code replaced by an exception."""

    def find_class(self, module: str, name: str) -> Any:
        # A name that cannot be imported makes the real unpickler fail before any code runs.
        if _IDENT.fullmatch(module) and _IDENT.fullmatch(name):
            raise _WouldImport(f"{module}.{name}")
        raise pickle.UnpicklingError("not an importable name")

    def persistent_load(self, pid: Any) -> Any:
        raise _WouldImport("a persistent id (torch tensor storage)")


def _probe_stream(raw: _ByteStream, size: int | None) -> str | None:
    """A reason if the stream is a pickle (or might be), None if unpickling would fail first."""
    reader = _Bounded(raw, size)
    try:
        _Probe(reader, encoding="latin1").load()
    except _WouldImport as exc:
        return f"a pickle that imports {exc}"
    except _CannotTell as exc:
        return f"possibly a pickle ({exc})"
    except RecursionError:
        return "possibly a pickle (too deeply nested to check)"
    except io.UnsupportedOperation as exc:
        # The stream, not the data, failed (python-zstandard's reader has no readline):
        # the real unpickler, given a file that has, may well succeed.
        return f"possibly a pickle (the stream cannot be read through: {exc})"
    except Exception:  # noqa: BLE001 - any other failure: the real unpickler fails too
        return None
    return "a complete pickle"


def _probe_bytes(data: bytes) -> str | None:
    return _probe_stream(io.BytesIO(data), len(data))


def _open_decompressed(path: Path, head: bytes) -> tuple[io.BufferedIOBase, str] | None:
    if head.startswith(b"\x1f\x8b"):
        return gzip.open(path, "rb"), "gzip"
    if head.startswith(b"BZh"):
        return bz2.open(path, "rb"), "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.open(path, "rb"), "xz"
    if head.startswith(_ZSTD_MAGIC):
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError:
            return None
        # Buffered, so that line reads work (the raw stream reader refuses readline).
        reader = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"))  # noqa: SIM115
        return io.BufferedReader(reader), "zstd"
    return None


def _probe_zip(source: Path | IO[bytes], depth: int = 0) -> str | None:
    try:
        with zipfile.ZipFile(source) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                with zf.open(info) as member:
                    head = member.read(8)
                if head.startswith(_ZIP_MAGIC) and depth < 2 and info.file_size <= _MAX_NESTED:
                    found = _probe_zip(io.BytesIO(zf.read(info)), depth + 1)
                else:
                    with zf.open(info) as member:
                        found = _probe_stream(member, info.file_size)
                if found:
                    return f"zip member {info.filename} is {found}"
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError):
        return "an unreadable zip archive (cannot rule out pickle)"
    return None


def pickle_reason(path: Path) -> str | None:
    """Why ``path`` holds pickle content (itself, in a zip member, or compressed), or None."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(_ZIP_MAGIC):
        return _probe_zip(path)
    opened = _open_decompressed(path, head)
    if opened is not None:
        stream, how = opened
        with stream:
            found = _probe_stream(stream, None)
        return f"{how}-compressed {found}" if found else None
    if head.startswith(_ZSTD_MAGIC):
        return "zstd-compressed data that cannot be checked (the zstandard module is missing)"
    size = path.stat().st_size
    with open(path, "rb") as fh:
        return _probe_stream(fh, size)


def is_pickle_file(path: Path) -> bool:
    """True if the file's content is pickle, a zip holding pickle, or compressed pickle."""
    return pickle_reason(path) is not None


# -- formats known to be inert ---------------------------------------------------


def _is_safetensors(path: Path, size: int) -> bool:
    if size < 10:
        return False
    with open(path, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        if n < 2 or n > _MAX_SAFETENSORS_HEADER or n > size - 8:
            return False
        try:
            header = json.loads(fh.read(n))
        except (ValueError, UnicodeDecodeError):
            return False
    if not isinstance(header, dict):
        return False
    data_size = size - 8 - n
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                return False
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("dtype"), str):
            return False
        shape, offsets = entry.get("shape"), entry.get("data_offsets")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            return False
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_size
        ):
            return False
    return True


def _is_text(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                if b"\x00" in chunk:
                    return False
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


_NPY_DESCR = re.compile(r"[<>|=]?(b1|\?|[iu][1248]|f[248]|f16|c(8|16|32)|[SUV]\d+|[mM]8(\[\w+\])?)")


def _is_npy(path: Path, size: int) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(12)
        if not head.startswith(b"\x93NUMPY") or len(head) < 10:
            return False
        major = head[6]
        if major == 1:
            (hlen,) = struct.unpack("<H", head[8:10])
            start = 10
        elif major in (2, 3):
            (hlen,) = struct.unpack("<I", head[8:12])
            start = 12
        else:
            return False
        if hlen > 1 << 20 or start + hlen > size:
            return False
        fh.seek(start)
        try:
            meta = ast.literal_eval(fh.read(hlen).decode("latin1").strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return False
    if not isinstance(meta, dict) or set(meta) != {"descr", "fortran_order", "shape"}:
        return False
    descr = meta["descr"]
    # A list descr is a structured dtype; only plain, non-object dtypes are accepted.
    return (
        isinstance(descr, str)
        and bool(_NPY_DESCR.fullmatch(descr))
        and isinstance(meta["fortran_order"], bool)
        and isinstance(meta["shape"], tuple)
    )


# -- a minimal protobuf walker (ONNX and SentencePiece) ---------------------------------


class _BadProto(Exception):
    pass


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _BadProto("bad varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes) -> Iterable[tuple[int, int, Any]]:
    """(field number, wire type, value) of one message; the whole buffer must parse."""
    pos = 0
    value: int | bytes
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _BadProto("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise _BadProto(f"wire type {wire}")
        if pos > len(buf):
            raise _BadProto("truncated")
        yield number, wire, value


# ModelProto fields (onnx.proto3): ir_version 1, opset_import 8, producer_name 2,
# producer_version 3, domain 4, model_version 5, doc_string 6, graph 7,
# metadata_props 14, training_info 20, functions 25, configuration 26.
_ONNX_MODEL_FIELDS = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2}


def _onnx_external_locations(tensor: bytes) -> list[str]:
    out = []
    for number, wire, value in _fields(tensor):
        if number == 13 and wire == 2:  # TensorProto.external_data: StringStringEntryProto
            entry = {n: v for n, w, v in _fields(value) if w == 2}
            if entry.get(1) == b"location":
                out.append(entry.get(2, b"").decode("utf-8", "strict"))
    return out


def _onnx_graph_locations(graph: bytes, depth: int = 0) -> list[str]:
    if depth > 16:
        raise _BadProto("graphs nested too deeply")
    out = []
    for number, wire, value in _fields(graph):
        if wire != 2:
            continue
        if number == 5:  # initializer: TensorProto
            out += _onnx_external_locations(value)
        elif number == 15:  # sparse_initializer: SparseTensorProto {values 1, indices 2}
            for n, w, v in _fields(value):
                if n in (1, 2) and w == 2:
                    out += _onnx_external_locations(v)
        elif number == 1:  # node: NodeProto, attribute 5: AttributeProto
            for n, w, v in _fields(value):
                if n == 5 and w == 2:
                    out += _onnx_attribute_locations(v, depth)
    return out


def _onnx_attribute_locations(attr: bytes, depth: int) -> list[str]:
    out = []
    for number, wire, value in _fields(attr):
        if wire != 2:
            continue
        if number in (5, 10):  # t, tensors
            out += _onnx_external_locations(value)
        elif number in (6, 11):  # g, graphs
            out += _onnx_graph_locations(value, depth + 1)
    return out


def _onnx(data: bytes) -> tuple[str, ...] | None:
    """External data locations if ``data`` is an ONNX ModelProto, else None."""
    try:
        seen = set()
        locations: list[str] = []
        for number, wire, value in _fields(data):
            if _ONNX_MODEL_FIELDS.get(number) != wire:
                return None
            seen.add(number)
            if number == 7:
                locations += _onnx_graph_locations(value)
        if not {1, 7} <= seen:
            return None
    except (_BadProto, UnicodeDecodeError):
        return None
    return tuple(locations)


def _is_sentencepiece(data: bytes) -> bool:
    """A SentencePiece ModelProto: pieces (1), trainer (2), normalizer (3), ... (4, 5)."""
    try:
        pieces = 0
        for number, wire, value in _fields(data):
            if number not in (1, 2, 3, 4, 5) or wire != 2:
                return False
            if number == 1:
                for n, w, _ in _fields(value):
                    if (n, w) not in ((1, 2), (2, 5), (3, 0)):
                        return False
                pieces += 1
    except _BadProto:
        return False
    return pieces > 0


_MAX_PROTO = 2 << 30


def classify(path: Path, *, protobuf: bool = True) -> FileVerdict:
    """Parse ``path`` and say what it is; ``safe`` only for inert formats that are not pickle.

    ``protobuf=False`` skips the ONNX/SentencePiece parse (for raw external tensor data,
    which an ONNX model already names: reading gigabytes to rule out protobuf is waste).
    """
    found = pickle_reason(path)
    if found:
        return FileVerdict("pickle", True, False, f"it contains pickle data ({found})")
    size = path.stat().st_size
    if _is_safetensors(path, size):
        return FileVerdict("safetensors", False, True)
    if _is_npy(path, size):
        return FileVerdict("npy", False, True)
    if _is_text(path):
        return FileVerdict("text", False, True)
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"\x93NUMPY"):
        return FileVerdict(
            "npy",
            False,
            False,
            "it is a .npy array of objects or of an unsupported dtype (object arrays are pickles)",
        )
    # ModelProto is written field by field in order: ONNX opens with ir_version (tag 0x08),
    # SentencePiece with its first piece (tag 0x0A).
    if protobuf and size <= _MAX_PROTO and head[:1] in (b"\x08", b"\x0a"):
        data = path.read_bytes()
        external = _onnx(data)
        if external is not None:
            return FileVerdict("onnx", False, True, external_data=external)
        if _is_sentencepiece(data):
            return FileVerdict("sentencepiece", False, True)
    return FileVerdict(
        "unknown",
        False,
        False,
        "it is not a format known to be safe (safetensors, JSON or other "
        "UTF-8 text, ONNX, SentencePiece, non-object .npy)",
    )


def check_files(
    files: Iterable[tuple[str, Path]], *, folder: str, allow_pickle: bool = False
) -> list[dict[str, str]]:
    """Refuse any file that is not an inert format (unless ``allow_pickle``).

    ``files`` are ``(relative name, path)`` pairs of one folder; ONNX external
    data is accepted when an ONNX model among them names it. Returns the files
    accepted only because of ``allow_pickle`` (name, format, reason) for the record.
    """
    listed = list(files)
    # ONNX models first (by content: any file may be one), so their external data is known.
    verdicts: dict[str, FileVerdict] = {}
    external: set[str] = set()
    for rel, path in listed:
        with open(path, "rb") as fh:
            if fh.read(1) != b"\x08":
                continue
        verdicts[rel] = classify(path)
        base = rel.rpartition("/")[0]
        for location in verdicts[rel].external_data:
            external.add(f"{base}/{location}" if base else location)
    for rel, path in listed:
        if rel not in verdicts:
            verdicts[rel] = classify(path, protobuf=rel not in external)
    accepted_unsafe = []
    for rel, verdict in verdicts.items():
        if verdict.safe:
            continue
        if not verdict.pickle and rel in external:
            continue  # raw tensor bytes an ONNX model in this folder loads by name
        if not allow_pickle:
            raise UnsafeContentError(
                f"refusing {folder}/{rel}: {verdict.reason}; pickle can run code when loaded. "
                "Convert the weights to safetensors, or pass --allow-pickle if you trust the "
                "source and your policy allows it",
                file=f"{folder}/{rel}",
            )
        accepted_unsafe.append({"file": rel, "format": verdict.format, "reason": verdict.reason})
    return accepted_unsafe


def refuse_pickle(path: Path, *, display_name: str | None = None, allow: bool = False) -> None:
    """Raise :class:`UnsafeContentError` if ``path`` holds pickle content and ``allow`` is False."""
    if allow:
        return
    found = pickle_reason(path)
    if found:
        name = display_name or str(path)
        raise UnsafeContentError(
            f"refusing {name}: it contains pickle data ({found}), which can run code when "
            "loaded; convert the weights to safetensors, or pass allow_pickle=True if you "
            "trust the source",
            file=name,
        )
