"""Signed checkpoints of the audit chain, kept where the database cannot rewrite them.

The idea is that of a transparency log's signed tree head (RFC 6962): a small
signed statement "store S, born at G, had N events and its head hash was H at
time T". Checkpoints are written to the artifact store (a newest one plus the
history), to an optional external sink (a JSON-lines file on another mount),
into every deployment bundle and every validation report. Whoever holds one
can later prove that the log was at least that long and had exactly that
history up to N: deleting, editing or re-chaining events with database access
alone is then detected even though SHA-256 chain hashes can be recomputed.

Signatures are HMAC-SHA256 under the audit key, which lives outside the
database: anyone who can run ``lmops audit verify`` with the key can check a
checkpoint; someone with only database (or artifact-store) access cannot make
one. The genesis, the store's birth certificate, is signed the same way and
is embedded in every checkpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from lmops_core.audit.chain import canonical_json
from lmops_core.audit.keys import key_fingerprint
from lmops_core.errors import ConfigurationError, ValidationError

CHECKPOINT_FORMAT = "lmops.audit-checkpoint/1"
GENESIS_FORMAT = "lmops.audit-genesis/1"
_HEX = frozenset("0123456789abcdef")
_Doc = TypeVar("_Doc", "Genesis", "Checkpoint")


def sign_document(key: bytes, kind: str, body: Mapping[str, Any]) -> str:
    """HMAC-SHA256 (hex) of ``body`` without its ``signature``, domain-separated by ``kind``."""
    payload = {k: v for k, v in body.items() if k != "signature"}
    message = f"lmops-audit-{kind}:".encode() + canonical_json(payload).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def now_iso() -> str:
    """The current UTC time as recorded in genesis and checkpoints."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Genesis:
    """The store's birth certificate: who it is, when it began, which key signs it."""

    store_id: str
    created_at: str
    key_fingerprint: str
    adopted_seq: int = 0
    signature: str = ""

    @classmethod
    def new(cls, key: bytes, *, store_id: str, adopted_seq: int = 0) -> Genesis:
        """A freshly signed genesis."""
        unsigned = cls(
            store_id=store_id,
            created_at=now_iso(),
            key_fingerprint=key_fingerprint(key),
            adopted_seq=adopted_seq,
        )
        return cls(
            **{**asdict(unsigned), "signature": sign_document(key, "genesis", unsigned.to_json())}
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON form (with ``format``), as written outside the database."""
        return {"format": GENESIS_FORMAT, **asdict(self)}

    def problem(self, key: bytes) -> str | None:
        """Why this genesis does not verify under ``key``, or ``None``."""
        if self.key_fingerprint != key_fingerprint(key):
            return (
                f"it names audit key {self.key_fingerprint[:23]}..., not the key in use "
                f"({key_fingerprint(key)[:23]}...)"
            )
        if not hmac.compare_digest(self.signature, sign_document(key, "genesis", self.to_json())):
            return "its signature does not verify (the genesis record was edited)"
        return None

    @classmethod
    def from_json(cls, value: Any, *, source: str) -> Genesis:
        """Parse a genesis document; ``ValidationError`` naming ``source`` if malformed."""
        with _Fields(value, source=source, format=GENESIS_FORMAT, what="genesis") as doc:
            return cls(
                store_id=doc.text("store_id"),
                created_at=doc.text("created_at"),
                key_fingerprint=doc.text("key_fingerprint"),
                adopted_seq=doc.count("adopted_seq"),
                signature=doc.text("signature"),
            )


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement of the chain's length and head hash at one moment."""

    store_id: str
    genesis: Genesis
    seq: int
    head_hash: str
    time: str
    key_fingerprint: str
    signature: str = ""
    #: Where it was read from (not signed, not written).
    source: str = ""

    @classmethod
    def new(cls, key: bytes, genesis: Genesis, *, seq: int, head_hash: str) -> Checkpoint:
        """A freshly signed checkpoint of the head ``(seq, head_hash)``."""
        unsigned = cls(
            store_id=genesis.store_id,
            genesis=genesis,
            seq=seq,
            head_hash=head_hash,
            time=now_iso(),
            key_fingerprint=key_fingerprint(key),
        )
        signature = sign_document(key, "checkpoint", unsigned.to_json())
        return cls(**{**unsigned.__dict__, "signature": signature})

    def to_json(self) -> dict[str, Any]:
        """The JSON form: what sinks store and bundles and reports embed."""
        return {
            "format": CHECKPOINT_FORMAT,
            "store_id": self.store_id,
            "genesis": self.genesis.to_json(),
            "seq": self.seq,
            "head_hash": self.head_hash,
            "time": self.time,
            "key_fingerprint": self.key_fingerprint,
            "signature": self.signature,
        }

    def describe(self) -> str:
        """How a verdict names this checkpoint."""
        return f"checkpoint seq {self.seq} of {self.time} from {self.source or 'memory'}"

    def problem(self, key: bytes, genesis: Genesis | None) -> str | None:
        """Why this checkpoint cannot be trusted for this store, or ``None``."""
        if not hmac.compare_digest(
            self.signature, sign_document(key, "checkpoint", self.to_json())
        ):
            return "its signature does not verify (forged, edited, or made with another key)"
        if genesis is not None and self.genesis != genesis:
            return (
                f"it belongs to store {self.store_id} born {self.genesis.created_at}, "
                f"not to this store ({genesis.store_id}, born {genesis.created_at})"
            )
        return None

    @classmethod
    def from_json(cls, value: Any, *, source: str) -> Checkpoint:
        """Parse a checkpoint document; ``ValidationError`` naming ``source`` if malformed."""
        with _Fields(value, source=source, format=CHECKPOINT_FORMAT, what="checkpoint") as doc:
            head_hash = doc.text("head_hash")
            if len(head_hash) != 64 or not set(head_hash) <= _HEX:
                raise ValueError("field 'head_hash' is not 64 lowercase hex digits")
            return cls(
                store_id=doc.text("store_id"),
                genesis=Genesis.from_json(value.get("genesis"), source=source),
                seq=doc.count("seq"),
                head_hash=head_hash,
                time=doc.text("time"),
                key_fingerprint=doc.text("key_fingerprint"),
                signature=doc.text("signature"),
                source=source,
            )


class _Fields:
    """The fields of one audit document (a JSON object of the expected ``format``), read
    inside ``with``: a ``ValueError`` there becomes a ``ValidationError`` naming ``source``."""

    def __init__(self, value: Any, *, source: str, format: str, what: str) -> None:
        if not isinstance(value, dict) or value.get("format") != format:
            raise ValidationError(f"{source}: not an lmops audit {what} ({format})")
        self.value: dict[str, Any] = value
        self.source = source

    def __enter__(self) -> _Fields:
        return self

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, ValueError):
            raise ValidationError(f"{self.source}: {exc}") from None

    def text(self, name: str) -> str:
        """Field ``name``: a non-empty string of at most 200 characters."""
        item = self.value.get(name)
        if not isinstance(item, str) or not item or len(item) > 200:
            raise ValueError(f"field {name!r} must be a non-empty string")
        return item

    def count(self, name: str) -> int:
        """Field ``name``: a whole number from 0 to 2**63 - 1."""
        item = self.value.get(name)
        if not isinstance(item, int) or isinstance(item, bool) or not 0 <= item < 2**63:
            raise ValueError(f"field {name!r} must be a whole number >= 0")
        return item


def read_checkpoint_file(path: Path) -> Checkpoint:
    """A checkpoint from a JSON file an auditor kept (or a bundle/report that embeds one)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError(f"checkpoint file {path} does not exist", path=str(path)) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValidationError(
            f"{path}: not a readable JSON checkpoint: {exc}", path=str(path)
        ) from None
    if (
        isinstance(value, dict)
        and value.get("format") != CHECKPOINT_FORMAT
        and "audit_checkpoint" in value
    ):
        value = value["audit_checkpoint"]  # a bundle manifest that embeds one
    return Checkpoint.from_json(value, source=str(path))


# --- where checkpoints are kept ------------------------------------------------


class CheckpointSink(Protocol):
    """A place outside the database that keeps the genesis and checkpoints."""

    name: str

    def write_genesis(self, genesis: Genesis) -> None:
        """Keep the store's genesis (idempotent)."""

    def write(self, checkpoint: Checkpoint) -> None:
        """Keep one checkpoint."""

    def checkpoints(self, store_id: str) -> list[Checkpoint]:
        """Every checkpoint kept for ``store_id``, oldest first."""


class _Records(Protocol):
    def put_record(self, name: str, data: bytes) -> None: ...
    def read_record(self, name: str) -> bytes | None: ...
    def list_records(self, prefix: str) -> list[str]: ...


class ArtifactSink:
    """Checkpoints as named records of the artifact store.

    ``audit/stores/<store id>.json`` holds each store's genesis;
    ``audit/<store id>/latest.json`` the newest checkpoint and
    ``audit/<store id>/history/<seq>-<hash prefix>.json`` every one written.
    """

    def __init__(self, records: _Records, uri: str) -> None:
        self._records = records
        self.name = f"artifact store {uri}"

    def _read(self, name: str, parse: Callable[..., _Doc]) -> _Doc | None:
        """Record ``name`` parsed by ``parse`` (a ``from_json``), or ``None`` when absent."""
        data = self._records.read_record(name)
        if data is None:
            return None
        return parse(_loads(data, name), source=f"{self.name}: {name}")

    def genesis_names(self) -> list[str]:
        """Record names of every store genesis kept here."""
        return self._records.list_records("audit/stores")

    def read_genesis(self, store_id: str) -> Genesis | None:
        """The genesis kept for ``store_id``, if any."""
        return self._read(f"audit/stores/{store_id}.json", Genesis.from_json)

    def write_genesis(self, genesis: Genesis) -> None:
        self._records.put_record(
            f"audit/stores/{genesis.store_id}.json", canonical_json(genesis.to_json()).encode()
        )

    def write(self, checkpoint: Checkpoint) -> None:
        data = canonical_json(checkpoint.to_json()).encode()
        base = f"audit/{checkpoint.store_id}"
        self._records.put_record(
            f"{base}/history/{checkpoint.seq:020d}-{checkpoint.head_hash[:16]}.json", data
        )
        self._records.put_record(f"{base}/latest.json", data)

    def latest(self, store_id: str) -> Checkpoint | None:
        """The newest checkpoint (one read)."""
        return self._read(f"audit/{store_id}/latest.json", Checkpoint.from_json)

    def checkpoints(self, store_id: str) -> list[Checkpoint]:
        found = []
        for name in self._records.list_records(f"audit/{store_id}/history"):
            checkpoint = self._read(name, Checkpoint.from_json)
            if checkpoint is not None:
                found.append(checkpoint)
        latest = self.latest(store_id)
        if latest is not None:
            found.append(latest)
        return sorted(found, key=lambda c: c.seq)


class FileSink:
    """Checkpoints appended as JSON lines to a file, ideally on another mount or host."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = f"checkpoint sink {self.path}"

    def _append(self, value: dict[str, Any]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, (canonical_json(value) + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot write the audit checkpoint sink {self.path}: {exc.strerror or exc}",
                path=str(self.path),
            ) from None

    def write_genesis(self, genesis: Genesis) -> None:
        self._append(genesis.to_json())

    def write(self, checkpoint: Checkpoint) -> None:
        self._append(checkpoint.to_json())

    def checkpoints(self, store_id: str) -> list[Checkpoint]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"cannot read the audit checkpoint sink {self.path}: {exc}", path=str(self.path)
            ) from None
        found = []
        for number, line in enumerate(lines, 1):
            source = f"{self.name}:{number}"
            value = _loads(line.encode(), source)
            if (
                isinstance(value, dict)
                and value.get("format") == CHECKPOINT_FORMAT
                and value.get("store_id") == store_id
            ):
                found.append(Checkpoint.from_json(value, source=source))
        return sorted(found, key=lambda c: c.seq)


def _loads(data: bytes, source: str) -> Any:
    try:
        return json.loads(data)
    except ValueError as exc:
        raise ValidationError(f"{source}: not valid JSON: {exc}") from None
