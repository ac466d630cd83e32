"""Whether a store exists is answered without creating one, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest

from lmops_core.errors import ConfigurationError, NotFoundError
from lmops_core.registry.db import FifoLock, describe_store, store_exists
from lmops_core.workspace import Workspace
from tests.conftest import make_settings


def test_store_exists_only_once_created(tmp_path: Path, empty_db_url: str) -> None:
    db_url = empty_db_url
    assert not store_exists(db_url)
    settings = make_settings(tmp_path / "home", db_url)
    with pytest.raises(NotFoundError, match=r"no lmops store at "):
        Workspace.open(settings, create=False)
    assert not store_exists(db_url)  # looking created nothing
    assert not (tmp_path / "home").exists()
    Workspace.open(settings).close()
    assert store_exists(db_url)
    with Workspace.open(settings, create=False) as ws:
        assert ws.list_assets("model") == []


def test_describe_store_hides_the_password() -> None:
    assert describe_store("sqlite:////srv/lmops/lmops.db") == "/srv/lmops/lmops.db"
    shown = describe_store("postgresql://lmops:s3cret@db.internal:5432/lmops")
    assert "s3cret" not in shown and "db.internal:5432/lmops" in shown


def test_a_missing_postgres_database_is_no_store(pg_url: str) -> None:
    missing = pg_url.rsplit("/", 1)[0] + "/lmops_never_created"
    assert not store_exists(missing)


def test_an_unreachable_server_is_a_configuration_error() -> None:
    with pytest.raises(
        ConfigurationError,
        match=r"cannot reach the store at "
        r"postgresql\+psycopg://lmops:\*\*\*@127.0.0.1:1/x",
    ):
        store_exists("postgresql://lmops:s3cret@127.0.0.1:1/x")


def test_a_pooled_connection_killed_while_idle_is_replaced(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import text

    from lmops_core.registry import db as db_module
    from lmops_core.testing.postgres import pg_admin as _pg_admin

    with Workspace.open(make_settings(tmp_path / "home", pg_url)) as ws:
        with ws.db.read() as s:
            pid = s.connection().execute(text("SELECT pg_backend_pid()")).scalar_one()
        with _pg_admin() as admin:  # every pooled connection dies, as in a server restart
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (pg_url.rsplit("/", 1)[1],),
            )
        monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)  # "idle long enough"
        with ws.db.read() as s:
            again = s.connection().execute(text("SELECT pg_backend_pid()")).scalar_one()
        assert again != pid
        assert ws.verify_audit().ok


def test_a_snapshot_reads_one_state_in_one_transaction(ws: Workspace, tmp_path: Path) -> None:
    import threading

    from sqlalchemy import event

    from tests.conftest import make_model_folder

    ws.register_model("snap", make_model_folder(tmp_path / "m1"))
    checkouts: list[object] = []
    event.listen(ws.db.engine, "checkout", lambda *args: checkouts.append(args))
    with ws.db.snapshot() as outer:
        with ws.db.read() as inner:
            assert inner is outer  # the facade's reads join the snapshot
        first = ws.get("model:snap@latest")
        assert ws.evidence("model:snap@latest") == []
        assert ws.lineage("model:snap@latest") == []
        assert len(checkouts) == 1
        # Another thread's write, committed meanwhile, is not seen inside the snapshot.
        writer = threading.Thread(
            target=ws.register_model, args=("snap", make_model_folder(tmp_path / "m2", b"\x01"))
        )
        writer.start()
        writer.join()
        assert ws.get("model:snap@latest").version == first.version == 1
        assert [v.version for v in ws.list_versions("model", "snap")] == [1]
    with ws.db.read() as a, ws.db.read() as b:
        assert a is not b  # outside a snapshot every read has its own session
    assert ws.get("model:snap@latest").version == 2


def test_a_snapshot_connection_is_joined_by_the_facades_reads(
    ws: Workspace, tmp_path: Path
) -> None:
    import threading

    from sqlalchemy import event, text

    from tests.conftest import make_model_folder

    ws.register_model("snap", make_model_folder(tmp_path / "m1"))
    checkouts: list[object] = []
    event.listen(ws.db.engine, "checkout", lambda *args: checkouts.append(args))
    with ws.db.snapshot_connection() as conn:
        assert conn.execute(text("SELECT count(*) FROM model_versions")).scalar_one() == 1
        with ws.db.read() as a, ws.db.snapshot() as b:
            assert a is b and a.connection() is conn  # one session, on the snapshot's connection
        assert ws.get("model:snap@latest").version == 1
        assert len(checkouts) == 1
        writer = threading.Thread(
            target=ws.register_model, args=("snap", make_model_folder(tmp_path / "m2", b"\x01"))
        )
        writer.start()
        writer.join()
        assert ws.get("model:snap@latest").version == 1  # the write is not seen inside
        assert conn.execute(text("SELECT count(*) FROM model_versions")).scalar_one() == 1
    assert ws.get("model:snap@latest").version == 2


def test_the_postgres_pool_has_a_connection_for_every_server_thread(pg_url: str) -> None:
    import anyio.to_thread

    from lmops_core.registry.db import Database

    async def server_threads() -> int:
        # The limiter Starlette runs blocking routes under.
        return int(anyio.to_thread.current_default_thread_limiter().total_tokens)

    db = Database(pg_url)
    try:
        pool = db.engine.pool
        # The routes' threads plus the generation read (lmops_core.api.cache).
        assert pool.size() + pool._max_overflow >= anyio.run(server_threads) + 1  # type: ignore[attr-defined]
    finally:
        db.dispose()


def test_a_session_holds_the_assets_its_readers_loaded(ws: Workspace, tmp_path: Path) -> None:
    from sqlalchemy import event

    from lmops_core.registry import store
    from tests.conftest import write_jsonl

    ref = ws.register_dataset(
        "held", write_jsonl(tmp_path / "d.jsonl", [{"text": "a"}]), shape="text"
    ).ref
    statements: list[str] = []
    with ws.db.read() as s:
        version = store.resolve(s, ref)[1]  # the caller keeps only the version row
        event.listen(s.get_bind(), "before_cursor_execute", _note(statements))
        # Naming the version's asset is answered from the session, not by a query.
        assert store.ref_of(s, "dataset", version) == ref
    assert statements == []


def _note(statements: list[str]) -> object:
    def note(conn: object, cursor: object, statement: str, *rest: object) -> None:
        statements.append(statement)

    return note


def test_page_reads_keep_their_statements_prepared_on_postgres(tmp_path: Path, pg_url: str) -> None:
    """psycopg forgets what it prepared on a connection at every ROLLBACK: the snapshot and
    the API's raw reads (store generation, console session) end by COMMIT instead, so a
    statement run often enough on a connection stays prepared (planned once)."""
    from sqlalchemy import text

    from lmops_core.api.cache import read_generations
    from lmops_core.api.sessions import SessionStore
    from lmops_core.registry.db import Database

    Workspace.open(make_settings(tmp_path / "home", pg_url)).close()  # the schema
    db = Database(pg_url)  # its own pool: the reads below all use its one connection
    sessions = SessionStore(lambda: db, timedelta(hours=1))
    try:
        for _ in range(8):
            with db.snapshot_connection() as conn:
                conn.execute(text("SELECT count(*) FROM model_versions WHERE id > :n"), {"n": 0})
            read_generations(db)
            assert sessions.get("no-such-session") is None
        with db.snapshot_connection() as conn:
            prepared = conn.execute(text("SELECT statement FROM pg_prepared_statements")).scalars()
            assert any("model_versions" in s for s in prepared)
        with db.write() as s:  # the same connection, no longer read-only
            assert s.execute(text("SHOW transaction_read_only")).scalar_one() == "off"
    finally:
        db.dispose()


def test_a_postgres_snapshot_is_read_only_and_ends_cleanly_on_error(
    tmp_path: Path, pg_url: str
) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with Workspace.open(make_settings(tmp_path / "home", pg_url)) as ws:
        with (
            pytest.raises(DBAPIError, match="read-only transaction"),
            ws.db.snapshot_connection() as conn,
        ):
            conn.execute(text("DELETE FROM model_versions"))
        with ws.db.snapshot_connection() as conn:  # the pool's connection is usable again
            assert conn.execute(text("SELECT 1")).scalar_one() == 1


def test_writers_of_one_process_take_their_turns_in_the_order_they_asked() -> None:
    lock = FifoLock()
    order: list[int] = []

    def writer(i: int) -> None:
        with lock.turn():
            order.append(i)

    threads = []
    with lock.turn():
        for i in range(6):
            thread = threading.Thread(target=writer, args=(i,))
            thread.start()
            threads.append(thread)
            while lock.waiting < i + 1:  # queued before the next one asks
                thread.join(0.001)
    for thread in threads:
        thread.join()
    assert order == list(range(6))
    with lock.turn():  # free again once the last one left
        assert lock.waiting == 0
