"""PreparedSelect gives the rows SQLAlchemy's own execution gives, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, exists, literal, literal_column, select

from lmops_core.registry import store
from lmops_core.registry.models import Evidence, LineageEdge, ModelVersion
from lmops_core.registry.prepared import PreparedSelect, Record, read_all
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder

_EVIDENCE = Evidence.__table__  # type: ignore[attr-defined]
_EDGES = LineageEdge.__table__  # type: ignore[attr-defined]
#: Literal binds (the kind, a boolean), named binds, JSON and timestamps, a limit.
_STATEMENT = (
    select(
        _EVIDENCE,
        literal(True).label("flag"),
        exists().where(_EDGES.c.child_id == _EVIDENCE.c.subject_id).label("has_parents"),
    )
    .where(_EVIDENCE.c.subject_type == "model", _EVIDENCE.c.kind != bindparam("skip"))
    .where(_EVIDENCE.c.subject_id.in_([bindparam("id"), bindparam("other")]))
    .order_by(_EVIDENCE.c.id)
    .limit(bindparam("limit"))
)


def _seeded(ws: Workspace, tmp_path: Path) -> int:
    v = ws.as_actor("eng").register_model("chat", make_model_folder(tmp_path / "m", b"\x01" * 64))
    for kind, metrics in (("eval", {"acc": 0.8, "per": [1, 2]}), ("bias", {"gap": None})):
        ws.as_actor("val").attach_evidence(v.ref, kind=kind, digest=v.digest, metrics=metrics)
    with ws.db.read() as s:
        _, row = store.resolve(s, v.ref)
        return int(row.id)


@pytest.mark.parametrize(
    "params",
    [
        {"skip": "none", "other": None, "limit": 10},
        {"skip": "bias", "other": -1, "limit": 10},
        {"skip": "none", "other": None, "limit": 1},
    ],
)
def test_rows_equal_sqlalchemy_execution(
    ws: Workspace, tmp_path: Path, params: dict[str, Any]
) -> None:
    version_id = _seeded(ws, tmp_path)
    prepared = PreparedSelect(_STATEMENT)
    args = {**params, "id": version_id}
    with ws.db.snapshot_connection() as conn:
        expected = [dict(row) for row in conn.execute(_STATEMENT, args).mappings()]
        got = prepared.rows(conn, args)
        again = prepared.rows(conn, args)  # compiled and processors reused
    assert got == again == expected
    assert expected  # the statement found rows to compare
    assert len(expected) == (1 if params["limit"] == 1 or params["skip"] == "bias" else 2)
    first = got[0]
    assert isinstance(first, Record)
    assert first.kind == first["kind"] == "eval"
    assert first.metrics == {"acc": 0.8, "per": [1, 2]}
    assert type(first.created_at) is type(expected[0]["created_at"])
    assert first.flag is True and first.has_parents is expected[0]["has_parents"]


def test_first_and_missing_rows(ws: Workspace, tmp_path: Path) -> None:
    version_id = _seeded(ws, tmp_path)
    prepared = PreparedSelect(_STATEMENT)
    with ws.db.snapshot_connection() as conn:
        found = prepared.first(conn, {"skip": "none", "id": version_id, "other": None, "limit": 5})
        none = prepared.first(conn, {"skip": "none", "id": -5, "other": None, "limit": 5})
    assert found is not None and found.kind == "eval"
    assert none is None
    with pytest.raises(AttributeError, match="no_such_column"):
        _ = found.no_such_column


_VERSIONS = ModelVersion.__table__  # type: ignore[attr-defined]
_DIGEST = PreparedSelect(select(_VERSIONS.c.digest).where(_VERSIONS.c.id == bindparam("id")))


def test_read_all_gives_each_statements_rows_in_order(ws: Workspace, tmp_path: Path) -> None:
    version_id = _seeded(ws, tmp_path)
    prepared = PreparedSelect(_STATEMENT)
    reads = [
        (prepared, {"skip": "none", "id": version_id, "other": None, "limit": 10}),
        (_DIGEST, {"id": version_id}),
        (prepared, {"skip": "eval", "id": version_id, "other": -1, "limit": 10}),
        (_DIGEST, {"id": -5}),
    ]
    # On PostgreSQL the four are pipelined, in a transaction not started before.
    with ws.db.snapshot_connection() as conn:
        got = read_all(conn, reads)
    with ws.db.snapshot_connection() as conn:
        expected = [
            [dict(row) for row in conn.execute(select.statement, params).mappings()]
            for select, params in reads
        ]
    assert got == expected
    assert [len(rows) for rows in got] == [2, 1, 1, 0]
    assert got[2][0].kind == "bias" and got[2][0].metrics == {"gap": None}


def test_read_all_reads_in_the_connections_snapshot(ws: Workspace, tmp_path: Path) -> None:
    version_id = _seeded(ws, tmp_path)
    reads = [(_DIGEST, {"id": version_id}), (_DIGEST, {"id": version_id})]
    with ws.db.snapshot_connection() as conn:
        before = read_all(conn, reads)
        # A change committed meanwhile is not seen by the reading transaction.
        with ws.db.write() as s:
            s.execute(
                _VERSIONS.update()
                .where(_VERSIONS.c.id == version_id)
                .values(digest="sha256:" + "0" * 64)
            )
        after = read_all(conn, reads)
    assert before == after
    assert before[0][0].digest != "sha256:" + "0" * 64
    with ws.db.snapshot_connection() as conn:
        assert read_all(conn, reads)[1][0].digest == "sha256:" + "0" * 64


def test_read_all_raises_a_failing_statements_error(ws: Workspace, tmp_path: Path) -> None:
    version_id = _seeded(ws, tmp_path)
    broken = PreparedSelect(select(literal_column("no_such_column")).select_from(_VERSIONS))
    with ws.db.snapshot_connection() as conn:
        error = conn.dialect.loaded_dbapi.Error
        with pytest.raises(error, match="no_such_column"):
            read_all(conn, [(_DIGEST, {"id": version_id}), (broken, {})])
    # The pooled connection is usable again.
    with ws.db.snapshot_connection() as conn:
        assert read_all(conn, [(_DIGEST, {"id": version_id})])[0]
