"""A file cut into the parts of a multipart upload, and the checksums that bind the two reads.

A regular file is read twice, but hashed with SHA-256 once: the first read computes its
digest (so stored content is never sent, and the upload goes straight to the digest's key)
and the CRC32 of every part; the second read sends the parts straight from the file
(:class:`FilePart`, no part held in memory), and each part's CRC32 must equal the first
read's. A file changed in between is refused before anything is published. The same CRC32
goes to the server with the part (``x-amz-checksum-crc32``, which botocore would otherwise
compute itself), so the server also refuses a part damaged on the way.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from lmops_core.digests import CHUNK_SIZE

#: S3's limit of parts per multipart upload.
MAX_PARTS = 10_000


@dataclass(frozen=True)
class HashedFile:
    """What the first read found: the digest, the size and each part's CRC32."""

    digest: str
    size: int
    part_size: int
    crcs: tuple[int, ...]

    def part_sizes(self) -> list[int]:
        """The size of each part: ``part_size``, the last one what is left."""
        return [min(self.part_size, self.size - i * self.part_size) for i in range(len(self.crcs))]


def part_size_for(size: int, minimum: int) -> int:
    """The part size for ``size`` bytes: ``minimum``, grown so the parts stay under S3's limit."""
    return max(minimum, -(-size // (MAX_PARTS - 1)))


def hash_file(stream: BinaryIO, part_size: int) -> HashedFile:
    """Read ``stream`` to its end once: its SHA-256 and the CRC32 of each ``part_size`` part.

    Reads into one reused buffer (no allocation per chunk); SHA-256 and CRC32 release the
    GIL, so the upload threads of another file are not held up.
    """
    sha = hashlib.sha256()
    crcs: list[int] = []
    crc = in_part = size = 0
    view = memoryview(bytearray(min(CHUNK_SIZE, part_size)))
    while n := _read_into(stream, view[: min(len(view), part_size - in_part)]):
        chunk = view[:n]
        sha.update(chunk)
        crc = zlib.crc32(chunk, crc)
        in_part += n
        size += n
        if in_part == part_size:
            crcs.append(crc)
            crc = in_part = 0
    if in_part:
        crcs.append(crc)
    return HashedFile(f"sha256:{sha.hexdigest()}", size, part_size, tuple(crcs))


def _read_into(stream: BinaryIO, view: memoryview) -> int:
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        return int(readinto(view) or 0)
    data = stream.read(len(view))
    view[: len(data)] = data
    return len(data)


def read_full(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes: a short read only at the end of the stream."""
    data = stream.read(size)
    if len(data) == size or not data:
        return data
    buffer = bytearray(data)
    while len(buffer) < size and (more := stream.read(size - len(buffer))):
        buffer += more
    return bytes(buffer)


def crc32_header(crc: int) -> str:
    """A CRC32 as S3 writes it in ``x-amz-checksum-crc32``: four big-endian bytes, base64."""
    return base64.b64encode(crc.to_bytes(4, "big")).decode()


class FilePart:
    """One part of a file as a request body, read from the file as it is sent.

    Read with ``pread`` (the upload threads share one descriptor), so no part is held in
    memory; every pass over it (botocore reads it to sign, then to send, and again on a
    retry) is checked at its end against the CRC32 the hash took, and a pass that does
    not match raises ``changed()`` before its last bytes go out.
    """

    def __init__(
        self, fd: int, offset: int, size: int, crc: int, changed: Callable[[], Exception]
    ) -> None:
        self.offset = offset
        self.size = size
        self.crc = crc
        self._fd = fd
        self._changed = changed
        self._pos = 0
        self._running = 0
        self._whole = True  # this pass started at the part's first byte
        self._verified = False  # the last pass read the whole part and matched its CRC32

    def __len__(self) -> int:
        return self.size

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self.size}[whence]
        self._pos = max(0, min(self.size, base + offset))
        self._running = 0
        self._whole = self._pos == 0
        self._verified = False
        return self._pos

    def read(self, n: int | None = -1) -> bytes:
        left = self.size - self._pos
        want = left if n is None or n < 0 else min(n, left)
        if want <= 0:
            return b""
        data = os.pread(self._fd, want, self.offset + self._pos)
        if not data:  # the file is shorter than when it was hashed
            raise self._changed()
        self._pos += len(data)
        if self._whole:
            self._running = zlib.crc32(data, self._running)
            if self._pos == self.size:
                if self._running != self.crc:
                    raise self._changed()
                self._verified = True
        return data

    def check_sent(self) -> None:
        """After the upload: raise ``changed()`` unless its last pass read the part whole."""
        if not self._verified:
            raise self._changed()
