"""PostgreSQL's append path: the event held back until the next statement or the commit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlmodel import Session

from lmops_core.digests import digest_bytes
from lmops_core.errors import AuditRefusedError
from lmops_core.registry import store
from lmops_core.workspace import Workspace
from tests.conftest import make_settings


@pytest.fixture
def pg_ws(tmp_path: Path, pg_url: str) -> Iterator[Workspace]:
    workspace = Workspace.open(make_settings(tmp_path / "home", pg_url))
    yield workspace
    workspace.close()


def _events(ws: Workspace) -> list[tuple[int, str, str]]:
    with ws.db.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(  # type: ignore[misc]
                    "SELECT seq, action, subject FROM audit_events ORDER BY seq"
                )
            )
        ]


def _new_version(ws: Workspace, s: object, n: int, name: str = "m") -> object:
    return store.create_version(
        s,
        ws.audit_writer,
        asset_type="model",
        name=name,  # type: ignore[arg-type]
        fields={
            "digest": digest_bytes(f"w{n}".encode()),
            "kind": "base",
            "size_bytes": 1,
            "meta": {},
        },
    )


def test_a_held_back_event_is_visible_to_the_next_statement(pg_ws: Workspace) -> None:
    with pg_ws.db.write() as s:
        pg_ws.audit_writer.record(s, "note.one", "note:a")
        seen = (
            s.connection()
            .execute(text("SELECT action FROM audit_events WHERE subject = 'note:a'"))
            .scalars()
            .all()
        )
        pg_ws.audit_writer.record(s, "note.two", "note:a")
    assert seen == ["note.one"]
    assert [e[1] for e in _events(pg_ws)][-2:] == ["note.one", "note.two"]
    assert pg_ws.verify_audit().ok


def test_the_last_event_commits_with_the_transaction(pg_ws: Workspace) -> None:
    before = len(_events(pg_ws))
    with pg_ws.db.write() as s:
        row = _new_version(pg_ws, s, 1)
    assert row.version == 1  # type: ignore[attr-defined]
    events = _events(pg_ws)
    assert [e[1] for e in events[before:]] == ["model.create", "model_version.create"]
    with pg_ws.db.engine.connect() as conn:
        head = conn.execute(text("SELECT seq FROM audit_head WHERE id = 1")).scalar_one()
    assert head == events[-1][0]
    assert pg_ws.verify_audit().ok


def test_a_version_of_an_existing_asset_is_one_statement_and_the_commit(pg_ws: Workspace) -> None:
    with pg_ws.db.write() as s:
        _new_version(pg_ws, s, 1)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(pg_ws.db.engine, "before_cursor_execute", seen)
    try:
        with pg_ws.db.write() as s:
            _new_version(pg_ws, s, 2)
    finally:
        event.remove(pg_ws.db.engine, "before_cursor_execute", seen)
    # One statement finds and locks the asset, allocates, inserts and locks the head;
    # the event itself goes out with the COMMIT, below SQLAlchemy.
    assert len(statements) == 1, statements
    assert "FOR UPDATE" in statements[0] and "INSERT INTO model_versions" in statements[0]
    assert _events(pg_ws)[-1][1:] == ("model_version.create", "model:m@2")
    assert pg_ws.verify_audit().ok


def test_a_version_of_an_existing_asset_costs_three_round_trips(
    pg_ws: Workspace, tmp_path: Path
) -> None:
    import psycopg

    with pg_ws.db.write() as s:
        _new_version(pg_ws, s, 1)
    trace = tmp_path / "protocol.trace"
    with pg_ws.db.engine.connect() as conn, open(trace, "w") as fh:
        raw = conn.connection.driver_connection
        raw.pgconn.trace(fh.fileno())  # type: ignore[union-attr]
        raw.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)  # type: ignore[union-attr]
        try:
            with Session(bind=conn, expire_on_commit=False) as s:
                _new_version(pg_ws, s, 2)
                s.commit()
        finally:
            raw.pgconn.untrace()  # type: ignore[union-attr]
    # BEGIN; the version statement (which takes the locks); the event and COMMIT together.
    # Each round trip ends with the server's ReadyForQuery.
    assert trace.read_text().count("ReadyForQuery") == 3, trace.read_text()
    assert [v.version for v in pg_ws.list_versions("model", "m")] == [1, 2]
    assert _events(pg_ws)[-1][1:] == ("model_version.create", "model:m@2")
    assert pg_ws.verify_audit().ok


def test_repeated_versions_reuse_one_statement_and_keep_the_model_defaults(
    pg_ws: Workspace,
) -> None:
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(pg_ws.db.engine, "before_cursor_execute", seen)
    try:
        for n in (1, 2, 3):
            with pg_ws.db.write() as s:
                row = _new_version(pg_ws, s, n)
    finally:
        event.remove(pg_ws.db.engine, "before_cursor_execute", seen)
    inserts = [st for st in statements if "INSERT INTO model_versions" in st]
    # The first version found no asset by name, created it and inserted by id; then by name.
    assert len(inserts) == 4 and inserts[0] == inserts[2] == inserts[3] != inserts[1]
    assert (row.version, row.format, row.status, row.stage, row.meta) == (  # type: ignore[attr-defined]
        3,
        "safetensors",
        "active",
        None,
        {},
    )
    assert row.created_at is not None  # type: ignore[attr-defined]


def test_a_rolled_back_transaction_leaves_no_event_behind(pg_ws: Workspace) -> None:
    before = _events(pg_ws)
    with pytest.raises(RuntimeError), pg_ws.db.write() as s:
        _new_version(pg_ws, s, 1)
        raise RuntimeError("the caller failed after the version was created")
    assert _events(pg_ws) == before
    # The pooled connection carries nothing into the next transaction.
    with pg_ws.db.write() as s:
        _new_version(pg_ws, s, 2)
    assert [v.version for v in pg_ws.list_versions("model", "m")] == [1]
    assert pg_ws.verify_audit().ok


def test_orm_writes_pending_at_commit_stay_in_the_transaction(pg_ws: Workspace) -> None:
    from lmops_core.registry.models import VersionTag

    with pg_ws.db.write() as s:
        row = _new_version(pg_ws, s, 1)
        s.add(VersionTag(subject_type="model", subject_id=row.id, key="k", value="v"))  # type: ignore[attr-defined]
    with pg_ws.db.read() as s:
        assert store.tags_of(s, "model", row.id) == {"k": "v"}  # type: ignore[attr-defined]
    assert pg_ws.verify_audit().ok


def test_a_tail_forged_under_the_head_is_refused_at_commit(pg_ws: Workspace) -> None:
    with pg_ws.db.write() as s:
        _new_version(pg_ws, s, 1)
    with pg_ws.db.engine.begin() as conn:  # an event appended behind the signed head's back
        seq = conn.execute(text("SELECT seq FROM audit_head")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO audit_events (seq, ts, actor, action, subject, before, after, prev_hash, "
                "hash) VALUES (:s, 'now', 'mallory', 'x', 'y', 'null', 'null', :h, :h)"
            ),
            {"s": seq + 1, "h": "f" * 64},
        )
    versions = [v.version for v in pg_ws.list_versions("model", "m")]
    with pytest.raises(AuditRefusedError, match="last event"), pg_ws.db.write() as s:
        _new_version(pg_ws, s, 2)
    assert [v.version for v in pg_ws.list_versions("model", "m")] == versions


def test_the_checked_append_reads_the_tail_by_index_whatever_the_plan(pg_ws: Workspace) -> None:
    # psycopg prepares a statement on its sixth run and PostgreSQL may then plan it once for
    # any parameters (a generic plan). The checked append runs with the chain head locked,
    # so its tail check must not turn into a scan of the whole log under such a plan.
    import re

    from lmops_core.audit import postgres as audit_pg

    names: list[str] = []

    def positional(match: re.Match[str]) -> str:
        if match.group(1) not in names:
            names.append(match.group(1))
        return f"${names.index(match.group(1)) + 1}"

    statement = re.sub(r"%\((\w+)\)s", positional, audit_pg._APPEND_CHECKED)
    with pg_ws.db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (seq, ts, actor, action, subject, before, after, "
                "prev_hash, hash) SELECT 1000 + g, 'now', 'bench', 'x', 'y', 'null', 'null', "
                "md5(g::text), md5(g::text) FROM generate_series(1, 50000) AS g"
            )
        )
        conn.execute(text("ANALYZE audit_events"))
        conn.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        conn.execute(text(f"PREPARE checked_append AS {statement}"))
        args = ", ".join("NULL" for _ in names)
        plan = "\n".join(
            conn.execute(text(f"EXPLAIN EXECUTE checked_append({args})")).scalars().all()
        )
        conn.execute(text("DEALLOCATE checked_append"))
        conn.rollback()
    assert "Seq Scan on audit_events" not in plan, plan
