"""Table shapes that several revisions create: named assets, their versions, and indexes.

A revision describes a schema that stores already have, so these helpers emit exactly the
operations the revisions wrote out by hand before (same columns in the same order, same
types, same index names in the same order). Change one only if a fresh database upgraded to
head dumps the same schema before and after, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

#: An index: a column name (index ``ix_<table>_<column>`` on that column alone) or an
#: explicit ``(name, columns)``.
IndexSpec = str | tuple[str, Sequence[str]]


def string(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    """The string type SQLModel gives a ``str`` field of ``max_length=length``."""
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def created_columns() -> list[sa.Column[Any]]:
    """``created_at`` then ``created_by``: when and by whom a row was made."""
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", string(128), nullable=False),
    ]


def about_version_columns() -> list[sa.Column[Any]]:
    """``id``, then the ``(subject_type, subject_id)`` of the version a row is about."""
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_type", string(16), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
    ]


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
    tier: list[sa.Column[Any]] = (
        [sa.Column("risk_tier", string(32), nullable=False)] if risk_tier else []
    )
    op.create_table(
        table,
        sa.Column("name", string(128), nullable=False),
        sa.Column("description", string(4000), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("normalized_name", string(128), nullable=False),
        *tier,
        sa.Column("latest_version", sa.Integer(), nullable=False),
        *created_columns(),
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
    content: Sequence[sa.Column[Any]],
    indexed: Sequence[str],
    run_id: bool = True,
) -> None:
    """The versions of a named asset: ``id``, the asset's id, the version number, the
    ``content`` columns of this kind of asset, then metadata, stage, status, the run that
    made it (``run_id=True``) and who made it. Indexed: the asset, the ``digest``, the
    ``stage`` and the ``indexed`` content columns, in the order of the index names."""
    run: list[sa.Column[Any]] = [sa.Column("run_id", string(32), nullable=True)] if run_id else []
    op.create_table(
        table,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(asset_fk, sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *content,
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.Column("stage", string(64), nullable=True),
        sa.Column("status", string(32), nullable=False),
        *run,
        *created_columns(),
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
