"""Answers that depend only on the store's state, kept until that state changes.

Every change a reader of the API can see (requests, decisions, stages, roles,
tokens) is written in the same transaction as an audit event, so the audit
head's sequence number is a generation counter for the whole store: if it has
not moved, nothing has. Each request learns it from a single-row read that
started after the request arrived (:class:`GenerationReader` shares one read
among many requests) and may reuse an answer computed at that same generation;
when the head moves, every cached answer is dropped. This holds across processes: a CLI or a
second API worker that writes moves the head the next request reads.

The generation is read *before* the answer is computed, so an answer stored
under generation ``g`` reflects the store at ``g`` or later, never earlier.

The same row also carries the *access* generation (``access_seq``), which database
triggers move with every change to a token or a role (revision 0014) and nothing
else moves. Who a bearer token stands for depends on nothing but tokens and roles,
so principals are kept per access generation: a decision, which moves the store's
generation, does not make every caller authenticate again, while revoking a token
or a role (from this server, a CLI or plain SQL) is seen by the next request.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, NamedTuple, TypeVar

from lmops_core.errors import AuditChainError
from lmops_core.registry.db import Database, end_read

V = TypeVar("V")


class Generations(NamedTuple):
    """The store's two counters, read together from the audit head row."""

    #: The audit head's sequence number: moves with every audited change.
    store: int
    #: Moves with every change to a token or a role (database triggers), and only then.
    access: int


def read_generations(db: Database) -> Generations:
    """Both generations, read in one statement.

    Read on a pooled driver connection without an ORM session: it runs for
    every batch of requests, and this way it costs microseconds, not tens of them.
    """
    conn = db.engine.raw_connection()
    try:
        cursor = conn.cursor()
        try:
            cursor.execute("SELECT seq, access_seq FROM audit_head WHERE id = 1")
            row = cursor.fetchone()
        finally:
            cursor.close()
        end_read(conn)  # keeps the connection's prepared statements (PostgreSQL)
    finally:
        conn.close()
    if row is None:
        raise AuditChainError("the store has no audit head row (audit_head, id 1)")
    return Generations(int(row[0]), int(row[1]))


def read_generation(db: Database) -> int:
    """The audit head's sequence number: it moves with every audited change."""
    return read_generations(db).store


class GenerationReader:
    """Reads the generation for many requests at once, never older than any of them.

    A request may use a read only if the read *started* after the request
    arrived (it then sees every change committed before the caller asked).
    Requests that arrive while a read is running wait for the next one, which
    starts as soon as the running one ends; so under load one read in the
    thread pool serves every request that came in meanwhile, and the event loop
    never waits on the database (call from the event loop only).
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._waiting: asyncio.Future[Generations] | None = None
        self._worker: asyncio.Task[None] | None = None
        self.reads = 0

    async def read(self) -> Generations:
        """Generations read by a read that started after this call.

        On SQLite the read is made here, on the event loop: it waits on no network and
        costs 0.02-0.04 ms of CPU, less than the hop to a worker thread and back.
        """
        if self.db.is_sqlite:
            self.reads += 1
            return read_generations(self.db)
        if self._waiting is None:
            self._waiting = asyncio.get_running_loop().create_future()
        waiting = self._waiting
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._serve())
        return await asyncio.shield(waiting)

    async def _serve(self) -> None:
        try:
            while self._waiting is not None:
                # Everyone waiting on this future arrived before the read below starts.
                batch, self._waiting = self._waiting, None
                try:
                    value = await asyncio.to_thread(read_generations, self.db)
                except Exception as exc:  # noqa: BLE001 - handed to every waiter
                    batch.set_exception(exc)
                    batch.exception()  # marked retrieved: each waiter re-raises it
                else:
                    batch.set_result(value)
                self.reads += 1
        finally:
            self._worker = None


class GenerationCache(Generic[V]):
    """A bounded map of answers, all computed at one generation of the store.

    ``get`` only answers for the generation it holds; ``put`` under a newer
    generation drops everything older. A caller that read an older generation
    than the cache holds (it raced a writer) neither reads nor stores.
    """

    def __init__(self, max_entries: int = 512) -> None:
        self.max_entries = max_entries
        self._generation = -1
        self._values: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self._flights: dict[tuple[int, Hashable], asyncio.Future[V]] = {}

    def get(self, generation: int, key: Hashable) -> V | None:
        """The answer stored for ``key`` at exactly ``generation``, or None."""
        with self._lock:
            if generation == self._generation:
                value = self._values.get(key)
                if value is not None:
                    self._values.move_to_end(key)
                    self.hits += 1
                    return value
            self.misses += 1
            return None

    def put(self, generation: int, key: Hashable, value: V) -> None:
        """Remember ``value`` for ``key`` as computed at ``generation``."""
        with self._lock:
            if generation > self._generation:
                self._generation = generation
                self._values.clear()
            if generation != self._generation:
                return
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.max_entries:
                self._values.popitem(last=False)

    async def get_or_compute(
        self, generation: int, key: Hashable, compute: Callable[[], Awaitable[V]]
    ) -> V:
        """The cached answer, or ``compute()``'s, computed once for concurrent callers.

        When the generation moves, every poller misses at once; the first one
        computes the answer and the others await it instead of each running the
        same queries (call from the event loop only).
        """
        value = self.get(generation, key)
        if value is not None:
            return value
        flight = (generation, key)
        pending = self._flights.get(flight)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._flights[flight] = future
        try:
            value = await compute()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, none is fine too
            raise
        finally:
            del self._flights[flight]
        future.set_result(value)
        self.put(generation, key, value)
        return value

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)


__all__ = [
    "GenerationCache",
    "GenerationReader",
    "Generations",
    "read_generation",
    "read_generations",
]
