"""The content-addressed artifact backend on an S3-compatible object store.

Layout under ``s3://bucket/prefix``: ``blobs/sha256/<2 hex>/<62 hex>`` for
content, ``written/sha256/<hex>`` for when a blob was last stored again (its age
for garbage collection; a blob never stored again is dated by its LastModified),
``tmp/`` for uploads whose digest is not yet known, ``leases/<id>/`` for writers
about to reference new blobs and ``records/`` for small named records.

A blob appears under its digest only complete: a regular file is hashed first
(streaming, with the CRC32 of each part: see :mod:`lmops_s3.parts`) and sent as
a multipart upload *to its digest's key*, which S3 publishes atomically on
completion and which is aborted if a part sent differs from the part hashed; a
stream that cannot be re-read goes as a multipart upload to ``tmp/``, hashed as
it is sent, then is copied onto its digest and the temporary object deleted.
Content already stored is never sent again. A writer killed mid-upload leaves
only an incomplete multipart upload (invisible, swept by ``gc``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import socket
import time
import uuid
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from lmops_core.artifacts.backend import (
    ArtifactBackend,
    ArtifactInfo,
    CollectReport,
    PutRequest,
)
from lmops_core.artifacts.local import VerifyingReader
from lmops_core.digests import CHUNK_SIZE, hex_part
from lmops_core.errors import IntegrityError, NotFoundError
from lmops_s3.failures import MISSING_CODES, error_code, translated
from lmops_s3.location import Location
from lmops_s3.opener import S3Opener
from lmops_s3.parts import (
    FilePart,
    HashedFile,
    crc32_header,
    hash_file,
    part_size_for,
    read_full,
)
from lmops_s3.settings import S3Settings

if TYPE_CHECKING:
    import boto3

MiB = 1 << 20


class S3ArtifactBackend(ArtifactBackend):
    """Content-addressed blobs under one prefix of one bucket."""

    def __init__(
        self,
        uri: str,
        *,
        client: Any,
        part_size: int = 8 * MiB,
        max_concurrency: int = 10,
    ) -> None:
        self.uri = uri
        self.location = Location.parse(uri)
        self.client = client
        self.part_size = part_size
        self.max_concurrency = max_concurrency
        self.endpoint = str(getattr(client.meta, "endpoint_url", "") or "AWS S3")
        # CRC32 with each part, as boto3's own uploads send it unless told to send checksums
        # only where required (AWS_REQUEST_CHECKSUM_CALCULATION=when_required: old servers).
        calculation = getattr(client.meta.config, "request_checksum_calculation", None)
        self.part_checksums = calculation != "when_required"

    @classmethod
    def connect(
        cls, uri: str, settings: S3Settings, *, session: boto3.session.Session | None = None
    ) -> S3ArtifactBackend:
        """Open the store at ``uri``; fails at once, naming it, if the bucket is unusable."""
        import boto3
        from botocore.config import Config

        location = Location.parse(uri)
        session = session or boto3.session.Session(profile_name=settings.profile)
        client = session.client(
            "s3",
            endpoint_url=settings.endpoint_url,
            region_name=settings.region,
            config=Config(
                retries={"max_attempts": settings.max_attempts, "mode": "standard"},
                max_pool_connections=max(10, settings.max_concurrency + 2),
                s3={"addressing_style": settings.addressing_style},
            ),
        )
        backend = cls(
            uri,
            client=client,
            part_size=settings.part_size_mib * MiB,
            max_concurrency=settings.max_concurrency,
        )
        with backend._calls("open the bucket", missing_means_bucket=True):
            client.head_bucket(Bucket=location.bucket)
        return backend

    def _calls(
        self, action: str, *, missing_means_bucket: bool = False
    ) -> contextlib.AbstractContextManager[None]:
        return translated(
            self.uri,
            self.location.bucket,
            self.endpoint,
            action,
            missing_means_bucket=missing_means_bucket,
        )

    # -- writing -------------------------------------------------------------------

    def write_stream(self, stream: BinaryIO, request: PutRequest) -> ArtifactInfo:
        if request.lease is not None:
            self.location.lease(request.lease)  # validated before anything is read or sent
        with self._calls("store an artifact"):
            start = _rewind_point(stream)
            first = read_full(stream, self.part_size)
            if len(first) < self.part_size:
                return self._put_small(first, request)
            if start is not None:
                del first  # read again from the file: no part is held in memory
                stream.seek(start)
                return self._put_file(stream, start, request)
            return self._put_unknown(stream, first, request)

    def _put_small(self, data: bytes, request: PutRequest) -> ArtifactInfo:
        digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
        request.check(digest)
        if self._already_stored(digest, request.lease):
            return ArtifactInfo(digest=digest, size=len(data), created=False)
        # One PUT is atomic: the object is complete or absent.
        self.client.put_object(
            Bucket=self.location.bucket, Key=self.location.blob(digest), Body=data
        )
        request.stored(len(data))
        return ArtifactInfo(digest=digest, size=len(data), created=True)

    def write_files(self, paths: Sequence[Path], request: PutRequest) -> list[ArtifactInfo]:
        """Store each file in order, as :meth:`put_stream` does; the next large file is
        hashed on a thread of its own while this one is sent (SHA-256 and reads release
        the GIL), so the hash, about a tenth of an upload's time, is hidden behind it."""
        if request.lease is not None:
            self.location.lease(request.lease)  # validated before anything is read or sent
        infos: list[ArtifactInfo] = []
        with ThreadPoolExecutor(1, thread_name_prefix="lmops-s3-hash") as hasher:
            opened = [hasher.submit(self._open_hashed, paths[0])] if paths else []
            try:
                for following in [*paths[1:], None]:
                    stream, hashed = opened.pop().result()
                    if following is not None:
                        opened.append(hasher.submit(self._open_hashed, following))
                    with stream, self._calls("store an artifact"):
                        if hashed is None:
                            infos.append(self.write_stream(stream, request))
                        else:
                            infos.append(self._put_hashed(stream, 0, hashed, request))
            finally:
                for future in opened:  # a file opened ahead of a failure is closed
                    if not future.cancel():
                        with contextlib.suppress(Exception):
                            future.result()[0].close()
        return infos

    def _open_hashed(self, path: Path) -> tuple[BinaryIO, HashedFile | None]:
        """The file open, and hashed if it is sent in parts (a small one is sent in one PUT)."""
        stream = open(path, "rb")  # noqa: SIM115 - the caller closes it
        try:
            size = os.fstat(stream.fileno()).st_size
            if size >= self.part_size:
                hashed = hash_file(stream, part_size_for(size, self.part_size))
                if hashed.size >= self.part_size:
                    return stream, hashed
                stream.seek(0)  # it shrank meanwhile: one PUT, as any small file
            return stream, None
        except BaseException:
            stream.close()
            raise

    def _put_file(self, stream: BinaryIO, start: int, request: PutRequest) -> ArtifactInfo:
        # Hashed first (streaming, constant memory), so stored content is never sent again
        # and the upload can go straight to its digest's key.
        size = os.fstat(stream.fileno()).st_size - start
        hashed = hash_file(stream, part_size_for(size, self.part_size))
        return self._put_hashed(stream, start, hashed, request)

    def _put_hashed(
        self, stream: BinaryIO, start: int, hashed: HashedFile, request: PutRequest
    ) -> ArtifactInfo:
        # Each part is sent from the file and checked against the CRC32 the hash took of it.
        fd = stream.fileno()
        digest = hashed.digest
        request.check(digest)
        if self._already_stored(digest, request.lease):
            return ArtifactInfo(digest=digest, size=hashed.size, created=False)

        def changed() -> IntegrityError:
            return IntegrityError(
                f"file changed while it was stored in {self.uri}: it was read as {digest}, "
                "then different bytes were read to send",
                digest=digest,
            )

        bodies = (
            FilePart(fd, start + i * hashed.part_size, length, crc, changed)
            for i, (length, crc) in enumerate(zip(hashed.part_sizes(), hashed.crcs, strict=True))
        )
        key = self.location.blob(digest)
        upload_id = self._create(key)
        try:
            parts = self._send_parts(key, upload_id, ((b, b.crc) for b in bodies), request)
            self._complete(key, upload_id, parts)
        except BaseException:
            self._abort(key, upload_id)
            raise
        return ArtifactInfo(digest=digest, size=hashed.size, created=True)

    def _put_unknown(self, stream: BinaryIO, first: bytes, request: PutRequest) -> ArtifactInfo:
        tmp = self.location.key("tmp", f"upload-{uuid.uuid4().hex}")
        sha = hashlib.sha256()
        size = 0

        def hashed_parts() -> Iterator[tuple[bytes, int]]:
            nonlocal size
            chunk = first
            while chunk:
                sha.update(chunk)
                size += len(chunk)
                yield chunk, zlib.crc32(chunk)
                del chunk  # the upload holds the only reference while it is sent
                chunk = read_full(stream, self.part_size)

        upload_id = self._create(tmp)
        try:
            parts = self._send_parts(tmp, upload_id, hashed_parts(), request)
            digest = f"sha256:{sha.hexdigest()}"
            request.check(digest)
            if self._already_stored(digest, request.lease):
                self._abort(tmp, upload_id)  # never completed: nothing to delete
                return ArtifactInfo(digest=digest, size=size, created=False)
            self._complete(tmp, upload_id, parts)
        except BaseException:
            self._abort(tmp, upload_id)
            raise
        try:
            # Server-side copy: the digest's key gets the whole object or nothing.
            self.client.copy(
                {"Bucket": self.location.bucket, "Key": tmp},
                self.location.bucket,
                self.location.blob(digest),
            )
        finally:
            self.client.delete_object(Bucket=self.location.bucket, Key=tmp)
        return ArtifactInfo(digest=digest, size=size, created=True)

    def _create(self, key: str) -> str:
        extra = {"ChecksumAlgorithm": "CRC32"} if self.part_checksums else {}
        answer = self.client.create_multipart_upload(Bucket=self.location.bucket, Key=key, **extra)
        return str(answer["UploadId"])

    def _send_parts(
        self,
        key: str,
        upload_id: str,
        bodies: Iterator[tuple[bytes | FilePart, int]],
        request: PutRequest,
    ) -> list[dict[str, Any]]:
        """Send each body (with its CRC32) as the next part; return the parts for completion.

        At most ``max_concurrency`` parts are in flight; the next body is taken as soon as
        any one of them is sent, as boto3's own transfer manager does (waiting for the
        oldest would leave the connection idle behind one slow request).
        """
        parts: list[dict[str, Any]] = []
        in_flight: set[Future[dict[str, Any]]] = set()

        def settle(done: set[Future[dict[str, Any]]]) -> None:
            in_flight.difference_update(done)
            parts.extend(future.result() for future in done)

        with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="lmops-s3") as pool:
            try:
                for number, (body, crc) in enumerate(bodies, start=1):
                    in_flight.add(
                        pool.submit(self._send_part, key, upload_id, number, body, crc, request)
                    )
                    del body  # a part read into memory is held by its upload alone
                    if len(in_flight) >= self.max_concurrency:
                        settle(wait(in_flight, return_when=FIRST_COMPLETED).done)
                settle(wait(in_flight).done)
            except BaseException:
                for future in in_flight:
                    future.cancel()
                raise
        return parts

    def _send_part(
        self,
        key: str,
        upload_id: str,
        number: int,
        body: bytes | FilePart,
        crc: int,
        request: PutRequest,
    ) -> dict[str, Any]:
        part: dict[str, Any] = {"PartNumber": number}
        if self.part_checksums:
            # Given, botocore does not compute it again; the server refuses a part it damaged.
            part["ChecksumCRC32"] = crc32_header(crc)
        answer = self.client.upload_part(
            Bucket=self.location.bucket, Key=key, UploadId=upload_id, Body=body, **part
        )
        if isinstance(body, FilePart):
            body.check_sent()
        request.stored(len(body))
        return {**part, "ETag": answer["ETag"]}

    def _complete(self, key: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
        self.client.complete_multipart_upload(
            Bucket=self.location.bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": sorted(parts, key=lambda p: p["PartNumber"])},
        )

    def _abort(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(Exception):  # best effort: gc sweeps what is left
            self.client.abort_multipart_upload(
                Bucket=self.location.bucket, Key=key, UploadId=upload_id
            )

    def _already_stored(self, digest: str, lease: str | None) -> bool:
        """Lease ``digest`` (before looking it up), then refresh its age if it is stored."""
        if lease is not None:
            self._hold(lease, digest)
        if not self.exists(digest):
            return False
        self._mark_written(digest)
        return True

    def _mark_written(self, digest: str) -> None:
        self.client.put_object(
            Bucket=self.location.bucket,
            Key=self.location.age_marker(digest),
            Body=repr(time.time()).encode(),
        )

    # -- reading -------------------------------------------------------------------

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = self.client.head_object(Bucket=self.location.bucket, Key=key)
        except Exception as exc:
            if error_code(exc) in MISSING_CODES:
                return None
            raise
        return answer

    def _not_found(self, digest: str) -> NotFoundError:
        return NotFoundError(f"artifact {digest} is not in the store at {self.uri}", digest=digest)

    def open(self, digest: str) -> BinaryIO:
        key = self.location.blob(digest)
        with self._calls(f"read artifact {digest}"):
            try:
                answer = self.client.get_object(Bucket=self.location.bucket, Key=key)
            except Exception as exc:
                if error_code(exc) in MISSING_CODES:
                    raise self._not_found(digest) from None
                raise
        raw = _BodyReader(answer["Body"], self, f"read artifact {digest}")
        return VerifyingReader(io.BufferedReader(raw, CHUNK_SIZE), digest)

    def worker_opener(self) -> S3Opener:
        """Workers read and write partitions here themselves (see :mod:`lmops_s3.opener`)."""
        return S3Opener(self.uri)

    def exists(self, digest: str) -> bool:
        key = self.location.blob(digest)
        with self._calls(f"look up artifact {digest}"):
            return self._head(key) is not None

    def size(self, digest: str) -> int:
        key = self.location.blob(digest)
        with self._calls(f"look up artifact {digest}"):
            answer = self._head(key)
        if answer is None:
            raise self._not_found(digest)
        return int(answer["ContentLength"])

    def _list(self, folder: str) -> Iterator[dict[str, Any]]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.location.bucket, Prefix=folder
        )
        for page in pages:
            yield from page.get("Contents", [])

    def iter_digests(self) -> Iterator[str]:
        with self._calls("list artifacts"):
            for item in self._list(self.location.folder("blobs", "sha256")):
                digest = self.location.digest_of_blob_key(item["Key"])
                if digest is not None:
                    yield digest

    # -- temporary uploads, leases and garbage collection ---------------------------

    def sweep_temporary(self, *, older_than_seconds: float = 0.0) -> int:
        cutoff = time.time() - older_than_seconds
        removed = 0
        bucket = self.location.bucket
        with self._calls("sweep temporary uploads"):
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=bucket, Prefix=self.location.key()
            )
            for page in pages:
                for upload in page.get("Uploads", []):
                    if upload["Initiated"].timestamp() <= cutoff and self._ours(upload["Key"]):
                        self._abort(upload["Key"], upload["UploadId"])
                        removed += 1
            for item in list(self._list(self.location.folder("tmp"))):
                if item["LastModified"].timestamp() <= cutoff:
                    self.client.delete_object(Bucket=bucket, Key=item["Key"])
                    removed += 1
        return removed

    def _ours(self, key: str) -> bool:
        return key.startswith((self.location.folder("tmp"), self.location.folder("blobs")))

    def _hold(self, lease: str, digest: str) -> None:
        self.client.put_object(
            Bucket=self.location.bucket, Key=self.location.lease(lease, hex_part(digest)), Body=b""
        )

    def open_lease(self, owner: str) -> str:
        lease = f"{re.sub(r'[^A-Za-z0-9_.-]', '-', owner)[:60] or 'lease'}-{uuid.uuid4().hex}"
        header = {"owner": owner[:200], "host": socket.gethostname(), "pid": os.getpid()}
        with self._calls("open a lease"):
            self.client.put_object(
                Bucket=self.location.bucket,
                Key=self.location.lease(lease, "owner.json"),
                Body=json.dumps(header).encode(),
            )
        return lease

    def close_lease(self, lease: str) -> None:
        folder = self.location.lease(lease) + "/"
        with self._calls("close a lease"):
            self._delete([item["Key"] for item in self._list(folder)])

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 keys at most
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self.client.delete_objects(
                Bucket=self.location.bucket, Delete={"Objects": batch, "Quiet": True}
            )

    def _leases(self) -> dict[str, tuple[float, list[str]]]:
        """Each lease: when it was last written (server time) and the keys it holds."""
        leases: dict[str, tuple[float, list[str]]] = {}
        root = self.location.folder("leases")
        for item in self._list(root):
            lease = item["Key"][len(root) :].split("/", 1)[0]
            written, keys = leases.get(lease, (0.0, []))
            keys.append(item["Key"])
            leases[lease] = (max(written, item["LastModified"].timestamp()), keys)
        return leases

    def live_leases(self, *, older_than_seconds: float) -> set[str]:
        # On a shared object store a writer's process cannot be checked from another host: a
        # lease is live while it was written within the grace period.
        owners: set[str] = set()
        with self._calls("read leases"):
            for lease, (written, keys) in self._leases().items():
                if time.time() - written > older_than_seconds:
                    continue
                header = self.location.lease(lease, "owner.json")
                if header in keys:
                    body = self.client.get_object(Bucket=self.location.bucket, Key=header)
                    with contextlib.suppress(ValueError, TypeError, AttributeError):
                        owners.add(str(json.loads(body["Body"].read()).get("owner")))
        return owners

    def _leased(self, older_than_seconds: float) -> tuple[set[str], list[list[str]]]:
        """Digests held by live leases, and the keys of abandoned leases."""
        held: set[str] = set()
        stale: list[list[str]] = []
        for written, keys in self._leases().values():
            if time.time() - written > older_than_seconds:
                stale.append(keys)
                continue
            held.update(f"sha256:{k.rsplit('/', 1)[1]}" for k in keys if not k.endswith(".json"))
        return held, stale

    def _written_at(self, digest: str, fallback: float) -> float:
        try:
            body = self.client.get_object(
                Bucket=self.location.bucket, Key=self.location.age_marker(digest)
            )["Body"].read()
            return float(body)
        except Exception as exc:
            if error_code(exc) in MISSING_CODES:
                return fallback
            raise

    def collect_garbage(
        self,
        *,
        referenced: Callable[[], Collection[str]],
        older_than_seconds: float,
    ) -> CollectReport:
        with self._calls("collect garbage"):
            return self._collect(referenced, older_than_seconds)

    def _collect(
        self, referenced: Callable[[], Collection[str]], older_than_seconds: float
    ) -> CollectReport:
        cutoff = time.time() - older_than_seconds
        leased, stale = self._leased(older_than_seconds)
        refs = set(referenced())
        counts = {"kept_referenced": 0, "kept_recent": 0, "kept_leased": 0}
        candidates: list[tuple[str, int, float]] = []
        for item in self._list(self.location.folder("blobs", "sha256")):
            digest = self.location.digest_of_blob_key(item["Key"])
            if digest is None:
                continue
            if digest in refs:
                counts["kept_referenced"] += 1
            elif digest in leased:
                counts["kept_leased"] += 1
            elif self._written_at(digest, item["LastModified"].timestamp()) > cutoff:
                counts["kept_recent"] += 1
            else:
                candidates.append((digest, int(item["Size"]), item["LastModified"].timestamp()))
        deleted = freed = 0
        if candidates:
            # A writer that leased or stored a candidate again since the first look keeps it.
            leased_now, _ = self._leased(older_than_seconds)
            for digest, size, modified in candidates:
                if digest in leased_now or self._written_at(digest, modified) > cutoff:
                    counts["kept_leased"] += 1
                    continue
                # The age first: a crash in between leaves a blob dated by its LastModified.
                self._delete([self.location.age_marker(digest)])
                self._delete([self.location.blob(digest)])
                deleted += 1
                freed += size
        self._delete([key for keys in stale for key in keys])
        return CollectReport(
            blobs_deleted=deleted, bytes_freed=freed, stale_leases=len(stale), **counts
        )

    # -- named records ---------------------------------------------------------------

    def put_record(self, name: str, data: bytes) -> None:
        key = self.location.record(name)
        with self._calls(f"write record {name}"):
            self.client.put_object(Bucket=self.location.bucket, Key=key, Body=data)

    def read_record(self, name: str) -> bytes | None:
        key = self.location.record(name)
        with self._calls(f"read record {name}"):
            try:
                body = self.client.get_object(Bucket=self.location.bucket, Key=key)["Body"]
            except Exception as exc:
                if error_code(exc) in MISSING_CODES:
                    return None
                raise
            data: bytes = body.read()
        return data

    def list_records(self, prefix: str) -> list[str]:
        folder = self.location.record(prefix.rstrip("/")) + "/"
        names = []
        with self._calls(f"list records under {prefix}"):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=folder, Delimiter="/"
            )
            for page in pages:
                for item in page.get("Contents", []):
                    names.append(f"{prefix.rstrip('/')}/{item['Key'][len(folder) :]}")
        return sorted(names)


class _BodyReader(io.RawIOBase):
    """A response body as a raw stream whose transport failures are lmops errors."""

    def __init__(self, body: Any, backend: S3ArtifactBackend, action: str) -> None:
        self._body = body
        self._backend = backend
        self._action = action

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        with self._backend._calls(self._action):
            data = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._body.close()
        super().close()


def _rewind_point(stream: BinaryIO) -> int | None:
    """Where a regular file stands (it can be hashed, then read again), else ``None``."""
    try:
        if stream.seekable() and os.fstat(stream.fileno()).st_mode & 0o170000 == 0o100000:
            return stream.tell()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        pass
    return None
