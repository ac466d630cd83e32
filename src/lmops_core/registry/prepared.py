"""Core selects run on the DB-API cursor of a connection, below SQLAlchemy's execution layer.

A page that many readers open (the console's request page) reads a few rows with
statements that never change. SQLAlchemy's ``Connection.execute`` spends most of
such a read on building an execution context and a result object, not on the
database. :class:`PreparedSelect` compiles its statement once per dialect (quoting,
placeholders, the order of positional parameters), runs it on the cursor of the
connection's own DB-API connection, so inside the transaction the connection holds,
and converts each value with the result processor SQLAlchemy would apply to that
column on that dialect (timestamps read back from SQLite's text, JSON documents), so
a row holds what ``conn.execute(statement).mappings()`` would give.

Parameters pass through the statement's bind processors the same way. Engine
``before_cursor_execute`` events do not fire for these reads: use it only for reads
on a connection whose transaction has written nothing.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Connection, Dialect


class Record(dict[str, Any]):
    """One result row by column key (``row["id"]``) or by attribute (``row.id``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: Bind names in placeholder order (positional dialects), else None (named).
    order: tuple[str, ...] | None
    #: The values the statement itself binds (literals), by bind name.
    fixed: Mapping[str, Any]
    binds: Mapping[str, Callable[[Any], Any]]
    keys: tuple[str, ...]
    types: tuple[Any, ...]
    #: Result processors by the cursor's column type codes (see :meth:`PreparedSelect.rows`).
    processors: dict[tuple[Any, ...], list[Any]]


class PreparedSelect:
    """``statement`` compiled once per dialect and run on a connection's DB-API cursor."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._by_dialect: dict[int, tuple[Dialect, _Compiled]] = {}
        self._lock = threading.Lock()

    def _compiled(self, dialect: Dialect) -> _Compiled:
        known = self._by_dialect.get(id(dialect))
        if known is not None and known[0] is dialect:
            return known[1]
        compiled = self.statement.compile(dialect=dialect)
        positional = bool(dialect.positional)
        order = tuple(compiled.positiontup or ()) if positional else None
        escaped = compiled.escaped_bind_names
        binds: dict[str, Callable[[Any], Any]] = {}
        for name, parameter in compiled.binds.items():
            processor = parameter.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                binds[escaped.get(name, name)] = processor
        fixed = {
            name: value
            for name, value in compiled.construct_params(_check=False).items()
            if value is not None
        }
        columns = list(self.statement.selected_columns)
        made = _Compiled(
            sql=str(compiled),
            order=order,
            fixed=fixed,
            binds=binds,
            keys=tuple(self.statement.selected_columns.keys()),
            types=tuple(column.type.dialect_impl(dialect) for column in columns),
            processors={},
        )
        with self._lock:
            self._by_dialect[id(dialect)] = (dialect, made)
        return made

    def _bound(self, dialect: Dialect, params: Mapping[str, Any]) -> tuple[_Compiled, Any]:
        """The statement compiled for ``dialect`` and ``params`` as its cursor takes them."""
        compiled = self._compiled(dialect)
        values = {
            name: (compiled.binds[name](value) if name in compiled.binds else value)
            for name, value in {**compiled.fixed, **params}.items()
        }
        if compiled.order is not None:
            return compiled, tuple(values[name] for name in compiled.order)
        return compiled, values

    @staticmethod
    def _records(
        dialect: Dialect, compiled: _Compiled, codes: tuple[Any, ...], fetched: Sequence[Any]
    ) -> list[Record]:
        processors = compiled.processors.get(codes)
        if processors is None:
            processors = compiled.processors[codes] = [
                type_.result_processor(dialect, code)
                for type_, code in zip(compiled.types, codes, strict=True)
            ]
        keys = compiled.keys
        return [
            Record(
                (key, value if process is None or value is None else process(value))
                for key, process, value in zip(keys, processors, row, strict=True)
            )
            for row in fetched
        ]

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Record]:
        """Every row of the statement with ``params``, read in ``conn``'s transaction."""
        return read_all(conn, [(self, params)])[0]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Record | None:
        """The statement's first row, or None."""
        found = self.rows(conn, params)
        return found[0] if found else None


def _type_codes(cursor: Any) -> tuple[Any, ...]:
    """The type codes of the cursor's result columns (``description``'s second fields).

    psycopg 3 builds a ``Column`` object per column on every ``description`` read, a
    quarter of a page's reading time on PostgreSQL: its cursor's result (``pgresult``, public)
    gives the same codes (the columns' type OIDs) directly.
    """
    result = getattr(cursor, "pgresult", None)
    if result is not None:
        return tuple(result.ftype(i) for i in range(result.nfields))
    return tuple(entry[1] for entry in cursor.description)


@functools.cache
def _pipelines(driver_type: type) -> bool:
    """Whether connections of ``driver_type`` pipeline: psycopg 3's do when their libpq
    does (14 or newer; psycopg's binary wheels bring their own)."""
    if not callable(getattr(driver_type, "pipeline", None)):
        return False
    package = sys.modules.get(driver_type.__module__.partition(".")[0])
    pipeline = getattr(package, "Pipeline", None)
    return bool(pipeline is not None and pipeline.is_supported())


def read_all(
    conn: Connection, reads: Sequence[tuple[PreparedSelect, Mapping[str, Any]]]
) -> list[list[Record]]:
    """The rows of each ``(select, params)`` of ``reads``, in order, read in ``conn``'s
    transaction.

    On a driver that pipelines (psycopg 3 on PostgreSQL) they are sent together and
    answered in one round trip to the server instead of one each (a transaction not yet
    started is started first: psycopg sends its ``BEGIN`` and waits for the answer);
    elsewhere (SQLite, in-process) they run one after another. A failing statement
    raises, and the ones after it are not run.
    """
    dialect = conn.dialect
    bound = [select._bound(dialect, params) for select, params in reads]
    driver: Any = conn.connection.dbapi_connection
    results: list[tuple[tuple[Any, ...], Sequence[Any]]] = []
    if len(bound) > 1 and _pipelines(driver.__class__):
        cursors = [driver.cursor() for _ in bound]
        try:
            with driver.pipeline():
                for cursor, (compiled, values) in zip(cursors, bound, strict=True):
                    cursor.execute(compiled.sql, values)
            results = [(_type_codes(cursor), cursor.fetchall()) for cursor in cursors]
        finally:
            for cursor in cursors:
                cursor.close()
    else:
        for compiled, values in bound:
            cursor = driver.cursor()
            try:
                cursor.execute(compiled.sql, values)
                results.append((_type_codes(cursor), cursor.fetchall()))
            finally:
                cursor.close()
    return [
        PreparedSelect._records(dialect, compiled, codes, fetched)
        for (compiled, _), (codes, fetched) in zip(bound, results, strict=True)
    ]


__all__ = ["PreparedSelect", "Record", "read_all"]
