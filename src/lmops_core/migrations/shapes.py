"""Table shapes that several revisions create: named assets, their versions, indexes, and the
triggers that move the access generation.

A revision describes a schema that stores already have, so these helpers emit exactly the
operations the revisions wrote out by hand before (same columns in the same order, same
types, same index names in the same order). Change one only if a fresh database upgraded to
head dumps the same schema before and after, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlalchemy.types import TypeEngine

#: An index: a column name (index ``ix_<table>_<column>`` on that column alone) or an
#: explicit ``(name, columns)``.
IndexSpec = str | tuple[str, Sequence[str]]
#: A column's type: a SQLAlchemy type, or a type class (instantiated with no arguments).
ColumnType = TypeEngine[Any] | type[TypeEngine[Any]]


@dataclass(frozen=True)
class Nullable:
    """A column type whose column allows NULL; made by :func:`nullable`."""

    type: ColumnType


#: Columns by name, in table order: a type for ``NOT NULL``, or :func:`nullable` of one.
ColumnSpec = Mapping[str, ColumnType | Nullable]


def nullable(type_: ColumnType) -> Nullable:
    """``type_`` for a column that allows NULL."""
    return Nullable(type_)


def columns(spec: ColumnSpec) -> list[sa.Column[Any]]:
    """The columns of ``spec``, in its order, each with its ``nullable`` said explicitly."""
    return [
        sa.Column(name, kind.type, nullable=True)
        if isinstance(kind, Nullable)
        else sa.Column(name, kind, nullable=False)
        for name, kind in spec.items()
    ]


def create_table(table: str, spec: ColumnSpec, *constraints: sa.schema.SchemaItem) -> None:
    """``op.create_table`` with the columns of ``spec``, then ``constraints``."""
    op.create_table(table, *columns(spec), *constraints)


def string(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    """The string type SQLModel gives a ``str`` field of ``max_length=length``."""
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def timestamp() -> sa.DateTime:
    """The type SQLModel gives an aware ``datetime`` field."""
    return sa.DateTime(timezone=True)


def created_columns() -> dict[str, ColumnType]:
    """``created_at`` then ``created_by``: when and by whom a row was made."""
    return {"created_at": timestamp(), "created_by": string(128)}


def about_version_columns() -> dict[str, ColumnType]:
    """``id``, then the ``(subject_type, subject_id)`` of the version a row is about."""
    return {"id": sa.Integer, "subject_type": string(16), "subject_id": sa.Integer}


def create_indexes(table: str, *indexes: IndexSpec) -> None:
    """Create ``indexes`` on ``table`` (non-unique), in the order given."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for spec in indexes:
            if isinstance(spec, str):
                batch_op.create_index(batch_op.f(f"ix_{table}_{spec}"), [spec], unique=False)
            else:
                batch_op.create_index(spec[0], list(spec[1]), unique=False)


def drop_indexes(table: str, *indexes: IndexSpec) -> None:
    """Drop ``indexes`` from ``table``, in the order given."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        for spec in indexes:
            if isinstance(spec, str):
                batch_op.drop_index(batch_op.f(f"ix_{table}_{spec}"))
            else:
                batch_op.drop_index(spec[0])


def create_asset_table(table: str, *, risk_tier: bool) -> None:
    """A named asset (``datasets``, ``models``...): its name, the normalized name it is
    unique by, the number of its latest version, and (models and prompts) a risk tier."""
    tier: dict[str, ColumnType] = {"risk_tier": string(32)} if risk_tier else {}
    create_table(
        table,
        {
            "name": string(128),
            "description": string(4000),
            "id": sa.Integer,
            "normalized_name": string(128),
            **tier,
            "latest_version": sa.Integer,
            **created_columns(),
        },
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f(f"ix_{table}_normalized_name"), ["normalized_name"], unique=True
        )


def drop_asset_table(table: str) -> None:
    """Undo :func:`create_asset_table`."""
    drop_indexes(table, "normalized_name")
    op.drop_table(table)


def create_version_table(
    table: str,
    *,
    asset_table: str,
    asset_fk: str,
    unique_name: str,
    content: ColumnSpec,
    indexed: Sequence[str],
    run_id: bool = True,
) -> None:
    """The versions of a named asset: ``id``, the asset's id, the version number, the
    ``content`` columns of this kind of asset, then metadata, stage, status, the run that
    made it (``run_id=True``) and who made it. Indexed: the asset, the ``digest``, the
    ``stage`` and the ``indexed`` content columns, in the order of the index names."""
    run: dict[str, Nullable] = {"run_id": nullable(string(32))} if run_id else {}
    create_table(
        table,
        {
            "id": sa.Integer,
            asset_fk: sa.Integer,
            "version": sa.Integer,
            **content,
            "meta": sa.JSON,
            "stage": nullable(string(64)),
            "status": string(32),
            **run,
            **created_columns(),
        },
        sa.ForeignKeyConstraint(
            [asset_fk],
            [f"{asset_table}.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(asset_fk, "version", name=unique_name),
    )
    create_indexes(table, *_version_indexes(asset_fk, indexed))


def drop_version_table(table: str, *, asset_fk: str, indexed: Sequence[str]) -> None:
    """Undo :func:`create_version_table` (indexes in reverse order, then the table)."""
    drop_indexes(table, *reversed(_version_indexes(asset_fk, indexed)))
    op.drop_table(table)


def _version_indexes(asset_fk: str, indexed: Sequence[str]) -> list[str]:
    return sorted([asset_fk, "digest", "stage", *indexed])


#: The statement every access trigger runs: it moves the access generation (revision 0014).
ACCESS_BUMP = "UPDATE audit_head SET access_seq = access_seq + 1 WHERE id = 1"


def _on_postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def create_access_triggers(table: str, events: Sequence[str]) -> None:
    """Triggers that move the access generation after each of ``events`` (``INSERT``,
    ``UPDATE``, ``DELETE``) on ``table``, in the changing transaction. On PostgreSQL one
    statement-level trigger (``TRUNCATE`` too) calls revision 0014's
    ``lmops_bump_access_seq()``; on SQLite one trigger per event."""
    if _on_postgresql():
        op.execute(
            f"CREATE TRIGGER lmops_{table}_access AFTER {' OR '.join(events)} "
            f"OR TRUNCATE ON {table} FOR EACH STATEMENT "
            "EXECUTE FUNCTION lmops_bump_access_seq()"
        )
        return
    for verb in events:
        op.execute(
            f"CREATE TRIGGER lmops_{table}_{verb.lower()}_access AFTER {verb} ON {table} "
            f"BEGIN {ACCESS_BUMP}; END"
        )


def drop_access_triggers(table: str, events: Sequence[str]) -> None:
    """Drop what :func:`create_access_triggers` made for ``table`` and ``events``."""
    if _on_postgresql():
        op.execute(f"DROP TRIGGER lmops_{table}_access ON {table}")
        return
    for verb in events:
        op.execute(f"DROP TRIGGER lmops_{table}_{verb.lower()}_access")
