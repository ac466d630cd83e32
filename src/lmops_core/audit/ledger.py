"""One store's audit log as a whole: chain, genesis, checkpoints, verdicts.

:class:`AuditLedger` is what a workspace holds. On opening it makes sure the
store has a signed genesis (recorded in the database and in the artifact
store), loads the newest checkpoint so writers refuse a chain rolled back
behind it, writes checkpoints as the chain grows, and verifies the chain
against every checkpoint it can find.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from lmops_core.audit.chain import VerifyResult, verify_session
from lmops_core.audit.checkpoints import (
    ArtifactSink,
    Checkpoint,
    CheckpointSink,
    FileSink,
    Genesis,
    now_iso,
)
from lmops_core.audit.heads import (
    GENESIS_HASH,
    HEAD_CHECK,
    AuditAnchor,
    head_problem,
    schema_error,
    sign_head,
)
from lmops_core.errors import AuditChainError, AuditRefusedError, LmopsError

_log = logging.getLogger("lmops.audit")


class _Transactions(Protocol):
    dialect: str

    def read(self) -> contextlib.AbstractContextManager[Session]: ...
    def write(self) -> contextlib.AbstractContextManager[Session]: ...


class _Records(Protocol):
    @property
    def uri(self) -> str: ...

    def put_record(self, name: str, data: bytes) -> None: ...
    def read_record(self, name: str) -> bytes | None: ...
    def list_records(self, prefix: str) -> list[str]: ...


_GENESIS_SELECT = text(
    "SELECT store_id, created_at, key_fingerprint, adopted_seq, signature "
    "FROM audit_genesis WHERE id = 1"
)


def existing_log(db: _Transactions) -> str | None:
    """A description of the audit log already in ``db``, or ``None`` for a new store.

    Read before the audit key is loaded: a store with a log never gets a new key.
    """
    try:
        with db.read() as s:
            head = (
                s.connection()
                .execute(text("SELECT seq, signature FROM audit_head WHERE id = 1"))
                .first()
            )
    except Exception:  # no schema yet (opened without migrating): nothing exists
        return None
    if head is None:
        return "its audit head row is missing"
    if head[0] or head[1]:
        return f"{head[0]} events under a signed head"
    return None


class AuditLedger:
    """Genesis, checkpoints and verification of one store's audit log."""

    def __init__(
        self,
        *,
        db: _Transactions,
        artifacts: _Records,
        key: bytes,
        sink_path: Path | None = None,
        every: int = 1000,
        alerts_path: Path | None = None,
        witnesses: Sequence[CheckpointSink] = (),
    ) -> None:
        self.db = db
        self.key = key
        self.every = max(1, every)
        self.alerts_path = alerts_path
        self.artifact_sink = ArtifactSink(artifacts, artifacts.uri)
        self.sinks: list[CheckpointSink] = [self.artifact_sink]
        if sink_path is not None:
            self.sinks.append(FileSink(sink_path))
        #: Write-only sinks (webhook, syslog): a failure is alerted, never fatal.
        self.witnesses: list[CheckpointSink] = list(witnesses)
        self.genesis: Genesis | None = None
        #: Why writes are refused from the start (genesis missing or altered), or None.
        self.problem: str | None = None
        self.anchor = AuditAnchor(on_refusal=self._alert, on_commit=self._after_commit)

    # -- opening ----------------------------------------------------------------

    def open(self) -> AuditLedger:
        """Find (or, for a new store, create) the genesis and the newest checkpoint."""
        try:
            with self.db.read() as s:
                row = s.connection().execute(_GENESIS_SELECT).first()
        except DBAPIError as exc:
            if not schema_error(exc):
                raise
            return self._block(f"the audit genesis table cannot be read: {exc.orig}")
        created = False
        head = (0, GENESIS_HASH)
        if row is None:
            with self.db.write() as s:
                # Lock the head first (PostgreSQL; SQLite's write lock is already held), then
                # re-check: another process may have just created the genesis.
                head_row = (
                    s.connection()
                    .execute(
                        text(
                            "SELECT seq, hash, signature FROM audit_head WHERE id = 1"
                            + (" FOR UPDATE" if self.db.dialect == "postgresql" else "")
                        )
                    )
                    .first()
                )
                row = s.connection().execute(_GENESIS_SELECT).first()
                if row is None:
                    self.genesis, self.problem, head = self._create_genesis(s, head_row)
                    created = self.genesis is not None
        if row is not None:
            self.genesis = Genesis(
                store_id=row[0],
                created_at=row[1],
                key_fingerprint=row[2],
                adopted_seq=int(row[3]),
                signature=row[4],
            )
            problem = self.genesis.problem(self.key)
            if problem:
                self.problem = f"the genesis record in the database does not verify: {problem}"
        if self.genesis is None or self.problem:
            return self._block()
        if created:
            for sink in self.sinks:
                sink.write_genesis(self.genesis)
            genesis = self.genesis
            self._tell_witnesses(lambda w: w.write_genesis(genesis))
            self._write(Checkpoint.new(self.key, self.genesis, seq=head[0], head_hash=head[1]))
            return self
        try:
            kept = self.artifact_sink.read_genesis(self.genesis.store_id)
        except LmopsError as exc:
            return self._block(f"the genesis kept in the artifact store cannot be read: {exc}")
        if kept is None:  # e.g. a crash between the commit and this write
            self.artifact_sink.write_genesis(self.genesis)
        elif kept != self.genesis:
            return self._block(
                f"the genesis in the database differs from the one kept in "
                f"{self.artifact_sink.name} (audit/stores/{self.genesis.store_id}"
                ".json): the genesis record was replaced"
            )
        try:
            latest = self.artifact_sink.latest(self.genesis.store_id)
        except LmopsError as exc:
            return self._block(f"the newest checkpoint cannot be read: {exc}")
        if latest is not None:
            problem = latest.problem(self.key, self.genesis)
            if problem:
                return self._block(f"{latest.describe()} does not verify: {problem}")
            self.anchor.checkpoint_seq = latest.seq
            self.anchor.checkpoint_hash = latest.head_hash
        return self

    def _create_genesis(
        self, s: Session, head: Any
    ) -> tuple[Genesis | None, str | None, tuple[int, str]]:
        conn = s.connection()
        if head is None:
            return None, "the chain head row (audit_head, id 1) is missing", (0, GENESIS_HASH)
        seq, head_hash, signature = int(head[0]), str(head[1]), str(head[2])
        others = self.artifact_sink.genesis_names()
        if others:
            stores = ", ".join(name.rsplit("/", 1)[-1].removesuffix(".json") for name in others)
            return (
                None,
                (
                    f"the database has no genesis record, but {self.artifact_sink.name} keeps the "
                    f"genesis of store {stores}: the audit log was deleted or reset (if this "
                    "database is deliberately new, give it a new artifact store)"
                ),
                (seq, head_hash),
            )
        last = conn.execute(text("SELECT max(seq) FROM audit_events")).scalar()
        if seq == 0 and head_hash == GENESIS_HASH and last is None:
            genesis = Genesis.new(self.key, store_id=uuid.uuid4().hex)
            conn.execute(
                text("UPDATE audit_head SET signature = :sig WHERE id = 1"),
                {"sig": sign_head(self.key, 0, GENESIS_HASH)},
            )
        else:  # a store from before genesis records: adopt it at its verified head
            tail = (
                conn.execute(
                    text("SELECT hash FROM audit_events WHERE seq = :s"), {"s": last}
                ).scalar()
                if last is not None
                else None
            )
            problem = head_problem((seq, head_hash, signature, last, tail, None), self.key)
            if problem:
                return None, f"cannot adopt the existing audit log: {problem}", (seq, head_hash)
            genesis = Genesis.new(self.key, store_id=uuid.uuid4().hex, adopted_seq=seq)
        conn.execute(
            text(
                "INSERT INTO audit_genesis (id, store_id, created_at, key_fingerprint, adopted_seq, "
                "signature) VALUES (1, :store_id, :created_at, :fp, :adopted, :sig)"
            ),
            {
                "store_id": genesis.store_id,
                "created_at": genesis.created_at,
                "fp": genesis.key_fingerprint,
                "adopted": genesis.adopted_seq,
                "sig": genesis.signature,
            },
        )
        return genesis, None, (seq, head_hash)

    def _block(self, problem: str | None = None) -> AuditLedger:
        """Refuse every write, for ``problem`` (else the one already found); logged and alerted.

        Returns the ledger, so that :meth:`open` can stop there.
        """
        if problem is not None:
            self.problem = problem
        _log.error("audit log: writes refused: %s", self.problem)
        self._alert(self.problem or "")
        self.anchor.blocked = self.problem
        return self

    # -- alerts and checkpoints -----------------------------------------------------

    def _alert(self, reason: str) -> None:
        self._alert_line("audit.refused", reason)

    def _alert_line(self, event: str, reason: str) -> None:
        if self.alerts_path is None:
            return
        line = {
            "event": event,
            "reason": reason,
            "ts": now_iso(),
            "store_id": self.genesis.store_id if self.genesis else None,
        }
        self.alerts_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.alerts_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")

    def _after_commit(self, start: int, seq: int, head_hash: str) -> None:
        if self.genesis is None or self.problem:
            return
        if start == 0 or start // self.every != seq // self.every:
            self._write(Checkpoint.new(self.key, self.genesis, seq=seq, head_hash=head_hash))

    def _write(self, checkpoint: Checkpoint) -> None:
        for sink in self.sinks:
            sink.write(checkpoint)
        self._tell_witnesses(lambda w: w.write(checkpoint))
        if checkpoint.seq > self.anchor.checkpoint_seq:
            self.anchor.checkpoint_seq = checkpoint.seq
            self.anchor.checkpoint_hash = checkpoint.head_hash

    def _tell_witnesses(self, send: Callable[[CheckpointSink], None]) -> None:
        """Send to every witness; one that fails is logged and alerted, the rest still hear."""
        for witness in self.witnesses:
            try:
                send(witness)
            except LmopsError as exc:
                _log.error("audit log: %s", exc)
                self._alert_line("audit.sink_failed", str(exc))

    def write_checkpoint(self) -> dict[str, Any]:
        """Sign the current head (after checking it as a writer would) and keep it everywhere."""
        if self.genesis is None or self.problem:
            raise AuditChainError(f"no checkpoint written: {self.problem}")
        with self.db.read() as s:
            conn = s.connection()
            row = conn.execute(HEAD_CHECK, {"cp": self.anchor.checkpoint_seq}).first()
        problem = head_problem(
            row, self.key, self.anchor.checkpoint_seq, self.anchor.checkpoint_hash
        )
        if problem:
            _log.error("audit log: no checkpoint written: %s", problem)
            self._alert(problem)
            raise AuditRefusedError(
                f"no checkpoint written: the audit log head does not verify: {problem}",
                reason=problem,
            )
        assert row is not None
        checkpoint = Checkpoint.new(self.key, self.genesis, seq=int(row[0]), head_hash=str(row[1]))
        self._write(checkpoint)
        return checkpoint.to_json()

    def latest_checkpoint(self) -> dict[str, Any] | None:
        """The newest checkpoint kept in the artifact store, as JSON (``None`` if none)."""
        if self.genesis is None:
            return None
        latest = self.artifact_sink.latest(self.genesis.store_id)
        return latest.to_json() if latest is not None else None

    # -- verifying ---------------------------------------------------------------------

    def verify(self, given: Checkpoint | None = None) -> VerifyResult:
        """See :meth:`_verify`; a dropped or altered audit table is a verdict too."""
        try:
            return self._verify(given)
        except DBAPIError as exc:
            if not schema_error(exc):
                raise
            return VerifyResult(
                False,
                0,
                None,
                f"the audit tables cannot be read: {exc.orig}",
                location="database schema",
            )

    def _verify(self, given: Checkpoint | None = None) -> VerifyResult:
        """The chain, then the genesis, then every checkpoint found (and ``given``).

        Checkpoints are read before the database snapshot is taken: a writer keeps a
        checkpoint only after its commit, so each one found lies inside the snapshot.
        """
        found: list[Checkpoint] = []
        unusable = ""
        if self.genesis is not None and not self.problem:
            try:
                found = self._gather(given)
            except LmopsError as exc:
                unusable = str(exc)
        with self.db.read() as s:
            if self.db.dialect == "postgresql":  # one snapshot for head, events and genesis
                s.connection().execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            row = s.connection().execute(_GENESIS_SELECT).first()
            result = verify_session(
                s, self.key, allow_unsigned_genesis=row is None and self.genesis is None
            )
            if not result.ok:
                if result.location == "chain head" and found:
                    return self._locate(s, result, found, given)
                return result
            problem = self._genesis_problem(row)
            if problem:
                return VerifyResult(False, result.events, None, problem, location="genesis")
            assert self.genesis is not None
            if unusable:
                return VerifyResult(False, result.events, None, unusable, location="a checkpoint")
            if not found:
                return VerifyResult(
                    False,
                    result.events,
                    None,
                    f"no checkpoint of store {self.genesis.store_id} was found "
                    f"in {', '.join(k.name for k in self.sinks)} (at least the "
                    "genesis checkpoint must exist: they were deleted)",
                    location="missing checkpoint",
                )
            verdict = self._against(s, result.events, found, given)
        if verdict.ok:
            with contextlib.suppress(LmopsError, OSError):
                self.write_checkpoint()
        return verdict

    def _locate(
        self, s: Session, broken: VerifyResult, found: list[Checkpoint], given: Checkpoint | None
    ) -> VerifyResult:
        """A head that fails says little about where: the checkpoints narrow it down."""
        verdict = self._against(s, broken.events, found, given)
        if verdict.ok:
            return VerifyResult(
                False,
                broken.events,
                broken.first_bad_seq,
                broken.reason,
                checkpoint=verdict.checkpoint,
                location=broken.location,
            )
        return VerifyResult(
            False,
            broken.events,
            verdict.first_bad_seq,
            f"{broken.reason}; {verdict.reason}",
            checkpoint=verdict.checkpoint,
        )

    def _genesis_problem(self, row: Any) -> str | None:
        if self.problem:
            return self.problem
        if row is None:
            return "the genesis record (audit_genesis, id 1) is missing from the database"
        current = Genesis(
            store_id=row[0],
            created_at=row[1],
            key_fingerprint=row[2],
            adopted_seq=int(row[3]),
            signature=row[4],
        )
        if current != self.genesis:
            return "the genesis record in the database changed since this store was opened"
        return None

    def _gather(self, given: Checkpoint | None) -> list[Checkpoint]:
        assert self.genesis is not None
        found = [cp for sink in self.sinks for cp in sink.checkpoints(self.genesis.store_id)]
        if given is not None:
            found.append(given)
        for cp in found:
            problem = cp.problem(self.key, self.genesis)
            if problem:
                raise AuditChainError(f"{cp.describe()} cannot be used: {problem}")
        return sorted(found, key=lambda c: c.seq)

    def _against(
        self, s: Session, events: int, found: list[Checkpoint], given: Checkpoint | None
    ) -> VerifyResult:
        newest = found[-1]
        kept = [cp for cp in found if cp is not given]
        used = newest.describe() if given is None else f"{given.describe()} (given)"
        if given is not None and kept:
            used += f" and the newest kept, {kept[-1].describe()}"
        if len(found) > 1:
            used += f" ({len(found)} checkpoints checked)"
        if newest.seq > events:
            return VerifyResult(
                False,
                events,
                events + 1,
                f"the chain has {events} events but {newest.describe()} "
                f"recorded {newest.seq}: events {events + 1} to {newest.seq} "
                "were deleted and the head rolled back",
                checkpoint=used,
            )
        hashes = dict(_hashes_at(s, sorted({cp.seq for cp in found if cp.seq})))
        hashes[0] = GENESIS_HASH
        good = 0
        for cp in found:
            if hashes.get(cp.seq) == cp.head_hash:
                good = max(good, cp.seq)
                continue
            where = (
                f"at event {cp.seq}"
                if good + 1 == cp.seq
                else f"somewhere in events {good + 1} to {cp.seq}"
            )
            return VerifyResult(
                False,
                events,
                good + 1,
                f"event {cp.seq}'s hash differs from {cp.describe()}: the "
                f"history was rewritten {where} (the newest matching "
                f"checkpoint is at seq {good})",
                checkpoint=used,
            )
        return VerifyResult(True, events, checkpoint=used)


def _hashes_at(s: Session, seqs: list[int]) -> Iterator[tuple[int, str]]:
    conn = s.connection()
    for start in range(0, len(seqs), 500):
        part = seqs[start : start + 500]
        marks = ", ".join(f":s{i}" for i in range(len(part)))
        rows = conn.execute(
            text(f"SELECT seq, hash FROM audit_events WHERE seq IN ({marks})"),  # noqa: S608
            {f"s{i}": seq for i, seq in enumerate(part)},
        )
        yield from ((int(row[0]), str(row[1])) for row in rows)
