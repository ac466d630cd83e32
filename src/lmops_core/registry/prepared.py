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

import threading
from collections.abc import Callable, Mapping
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

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Record]:
        """Every row of the statement with ``params``, read in ``conn``'s transaction."""
        dialect = conn.dialect
        compiled = self._compiled(dialect)
        values = {
            name: (compiled.binds[name](value) if name in compiled.binds else value)
            for name, value in {**compiled.fixed, **params}.items()
        }
        bound: Any = (
            tuple(values[name] for name in compiled.order) if compiled.order is not None else values
        )
        cursor = conn.connection.cursor()
        try:
            cursor.execute(compiled.sql, bound)
            description = cursor.description
            fetched = cursor.fetchall()
        finally:
            cursor.close()
        codes = tuple(entry[1] for entry in description)
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

    def first(self, conn: Connection, params: Mapping[str, Any]) -> Record | None:
        """The statement's first row, or None."""
        found = self.rows(conn, params)
        return found[0] if found else None


__all__ = ["PreparedSelect", "Record"]
