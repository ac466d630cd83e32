"""Engines, sessions and schema upgrades for SQLite and PostgreSQL.

SQLite runs in WAL mode with a busy timeout; write transactions start with
``BEGIN IMMEDIATE`` so two writers never deadlock on a lock upgrade and
version numbers are allocated under the write lock. PostgreSQL relies on row
locks (``UPDATE ... RETURNING`` on the asset row, ``SELECT ... FOR UPDATE`` on
the audit head). The schema only changes through committed Alembic revisions,
applied under a lock so that many processes may open a new store at once.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlmodel import Session

from lmops_core.audit import postgres as audit_postgres
from lmops_core.errors import ConfigurationError
from lmops_core.file_lock import exclusive

_MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_BEGIN_KEY = "lmops_begin"
#: ``Session.info`` key of a :meth:`Database.snapshot`'s memo: answers that cannot change
#: within one read transaction (a resolved reference), kept for the snapshot's later reads.
SNAPSHOT_MEMO = "lmops_snapshot_memo"
_ADVISORY_LOCK_ID = 0x6C6D6F7073  # "lmops"
#: PostgreSQL connections kept open between uses.
POOL_SIZE = 10
#: Threads that may each hold a connection at once: the admin API runs its blocking
#: routes on anyio's default pool of 40 threads, plus one for the store-generation read
#: (lmops_core.api.cache). The pool opens up to one connection per thread, so under load
#: a thread waits for the database, never for another thread to hand a connection back.
POOL_THREADS = 40
_HELD_KEY = "lmops_held_rows"


class FifoLock:
    """A lock between threads granted in the order they asked for it (``threading.Lock``
    grants it to whichever waiter wakes first)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._waiting: collections.deque[threading.Event] = collections.deque()
        self._held = False

    @property
    def waiting(self) -> int:
        """How many threads wait for their turn now."""
        with self._mutex:
            return len(self._waiting)

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the lock until the block ends, after every thread that asked before."""
        with self._mutex:
            mine = None
            if self._held:
                mine = threading.Event()
                self._waiting.append(mine)
            self._held = True
        if mine is not None:
            try:
                mine.wait()
            except BaseException:
                with self._mutex:
                    if mine in self._waiting:  # not handed over yet: leave the queue
                        self._waiting.remove(mine)
                        raise
                self._release()  # handed over meanwhile: pass it on
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()  # handed over: it stays held
            else:
                self._held = False


def hold_rows(session: Session, *rows: Any) -> None:
    """Keep ``rows`` referenced for as long as ``session`` lives.

    A session's identity map holds its objects weakly: an asset row read to resolve a
    reference is dropped as soon as the caller keeps only the version, and the next
    ``session.get`` of that asset (naming the version's asset, on every evidence record
    and lineage edge) queries the database again. Held rows are found in the map.
    """
    held: dict[int, Any] = session.info.setdefault(_HELD_KEY, {})
    for row in rows:
        held[id(row)] = row


def normalize_url(url: str) -> str:
    """Pick the psycopg 3 driver for bare ``postgresql://`` URLs."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def store_exists(url: str) -> bool:
    """Whether a metadata store was created at ``url``; checking creates nothing.

    SQLite: the database file exists. PostgreSQL: the database holds the schema
    version table that :meth:`Database.migrate` writes first.
    """
    from sqlalchemy import inspect
    from sqlalchemy.exc import OperationalError

    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        return bool(parsed.database) and Path(str(parsed.database)).is_file()
    engine = create_engine(parsed)
    try:
        return inspect(engine).has_table("alembic_version")
    except OperationalError as exc:
        if "does not exist" in str(exc):  # the database itself was never created
            return False
        raise ConfigurationError(
            f"cannot reach the store at {describe_store(url)}: {str(exc.orig).strip()}"
        ) from None
    finally:
        engine.dispose()


def describe_store(url: str) -> str:
    """Where a store lives, for messages: the SQLite file, or the URL without its password."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        return str(parsed.database)
    return parsed.render_as_string(hide_password=True)


def migration_lock_path(store: Path) -> Path:
    """The file a SQLite store's migrations lock (``store`` is the database file); it stays
    beside the store once made."""
    return Path(f"{store}.migrate.lock")


def end_read(dbapi_conn: Any) -> None:
    """End the read transaction of a pooled driver connection before it goes back to
    the pool: by ``COMMIT``, which changes nothing after reads but, unlike the pool's
    ``ROLLBACK``, leaves psycopg's prepared statements on the connection (it forgets
    them all at every rollback, and sends ``DEALLOCATE ALL`` when it had any). On
    SQLite, whose pooled connections read outside a transaction, it does nothing."""
    dbapi_conn.commit()


class Database:
    """One metadata store: an engine plus transaction helpers."""

    def __init__(self, url: str, *, busy_timeout_ms: int = 60_000) -> None:
        self.url = normalize_url(url)
        self._snapshots = threading.local()
        parsed = make_url(self.url)
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ConfigurationError(
                f"unsupported database {self.dialect!r} in LMOPS_DATABASE_URL: "
                "use sqlite:///PATH or postgresql://..."
            )
        if self.dialect == "sqlite":
            db_path = parsed.database
            if not db_path or db_path == ":memory:":
                raise ConfigurationError(
                    "an in-memory SQLite database cannot be shared; give a file"
                )
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
            self._lock_path = Path(db_path + ".write.lock")
            self._writers = FifoLock()
            self.engine = create_engine(
                self.url,
                connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
            )
            _configure_sqlite(self.engine, busy_timeout_ms)
        else:
            self.engine = create_engine(
                self.url, pool_size=POOL_SIZE, max_overflow=POOL_THREADS + 1 - POOL_SIZE
            )
            _ping_idle_connections(self.engine)
            audit_postgres.install(self.engine)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error.

        On SQLite the transaction takes the write lock at once (``BEGIN IMMEDIATE``).
        """
        with self._writer_lock(), self.engine.connect() as conn:
            if self.is_sqlite:
                conn.info[_BEGIN_KEY] = "BEGIN IMMEDIATE"
            with Session(bind=conn, expire_on_commit=False) as session:
                try:
                    yield session
                    session.commit()
                except BaseException:
                    session.rollback()
                    raise

    @contextlib.contextmanager
    def _writer_lock(self) -> Iterator[None]:
        # SQLite's busy handler polls with sleeps of up to 100 ms, so many
        # writers waste most of their time asleep. A kernel file lock queues
        # writers and wakes the next one as soon as the lock is free. It wakes
        # them in no particular order, so the threads of this process first take
        # their turn in the order they asked (the API's thread pool runs up to 40
        # writers at once: without the turn, an unlucky one waited several times
        # as long as the others), and only the first of them waits on the file.
        if not self.is_sqlite:
            yield
            return
        with self._writers.turn(), exclusive(self._lock_path):
            yield

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (deferred transaction, rolled back at the end).

        Inside :meth:`snapshot` on the same thread, the snapshot's session instead.
        """
        shared = self._snapshot_session()
        if shared is not None:
            yield shared
            return
        with self.engine.connect() as conn, Session(bind=conn, expire_on_commit=False) as s:
            try:
                yield s
            finally:
                s.rollback()

    def _snapshot_session(self) -> Session | None:
        """The session of this thread's snapshot, made on its first use; None outside one."""
        conn: Connection | None = getattr(self._snapshots, "conn", None)
        if conn is None:
            return None
        session: Session | None = getattr(self._snapshots, "session", None)
        if session is None:
            session = Session(bind=conn, expire_on_commit=False)
            session.info[SNAPSHOT_MEMO] = {}  # what readers may remember within the snapshot
            self._snapshots.session = session
        return session

    @contextlib.contextmanager
    def snapshot_connection(self) -> Iterator[Connection]:
        """One read transaction for every read this thread makes until the end, as a
        plain connection for Core statements.

        Every :meth:`read` (and :meth:`snapshot`) on this thread meanwhile joins it
        through one ORM session, made on the first such read: a page read with a few
        Core statements does not pay for opening and closing a session (on SQLite that
        was about two thirds of the cost of the transaction's start and end). See
        :meth:`snapshot` for what belongs inside.

        On PostgreSQL the transaction is read-only and, when the reads succeed, ends by
        ``COMMIT``: psycopg forgets the statements it prepared on the connection at
        every ``ROLLBACK``, so a page read ended that way planned its statements afresh
        each time (measured in-process, 3,000 requests: 2.5 ms a page, 1.0 once the
        connection keeps them prepared, see :func:`end_read`).
        """
        joined: Connection | None = getattr(self._snapshots, "conn", None)
        if joined is not None:
            yield joined
            return
        with self.engine.connect() as conn:
            if not self.is_sqlite:
                # SQLite's read transaction already sees one state; PostgreSQL's default
                # (read committed) would let each statement see newer commits.
                conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            conn.begin()
            self._snapshots.conn = conn
            ok = False
            try:
                yield conn
                ok = True
            finally:
                session: Session | None = getattr(self._snapshots, "session", None)
                self._snapshots.conn = self._snapshots.session = None
                try:
                    if session is not None:
                        session.close()  # it joined the transaction: closing leaves it open
                finally:
                    if ok and not self.is_sqlite:
                        conn.commit()  # read only: the same end as a rollback, see above
                    else:
                        conn.rollback()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Session]:
        """One read transaction for every :meth:`read` this thread makes until the end.

        For a page assembled from many reads through the facade: they see one
        consistent state of the store, and pay for one connection checkout and one
        transaction instead of one each. Writes are not affected (:meth:`write` has
        its own connection). Snapshots do not nest: an inner one joins the outer.
        Only reads belong inside: a call that writes and then reads its work back
        through :meth:`read` on this thread would read the snapshot's older state.
        """
        with self.snapshot_connection(), self.read() as shared:
            yield shared

    def migrate(self) -> None:
        """Upgrade the schema to the newest committed revision, under a lock."""
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            conn.rollback()
        if current == head:
            return
        with self._migration_lock(), self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self.is_sqlite:
            with exclusive(migration_lock_path(Path(str(make_url(self.url).database)))):
                yield
        else:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _ADVISORY_LOCK_ID})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_LOCK_ID})
                    conn.commit()

    def dispose(self) -> None:
        self.engine.dispose()


#: A pooled PostgreSQL connection idle longer than this is pinged before it is used again.
PING_AFTER_IDLE_S = 10.0


def _ping_idle_connections(engine: Engine) -> None:
    """Check a pooled connection is alive before reuse, but only after it sat idle.

    A server restart or a proxy's idle timeout leaves dead connections in the
    pool; pinging one on every checkout (``pool_pre_ping``) finds them, but costs
    each transaction a round trip, which busy writers pay in full. A connection
    handed back moments ago is as good as the ping would prove it, so only one
    idle for :data:`PING_AFTER_IDLE_S` is pinged; a dead one is replaced (the
    pool retries the checkout with a fresh connection).
    """

    @event.listens_for(engine, "checkin")
    def _note_idle(dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["lmops_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("lmops_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"pooled connection is gone: {exc}") from exc


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's implicit
        # transactions would otherwise start lazily and always DEFERRED).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql(conn.info.pop(_BEGIN_KEY, "BEGIN"))
