"""Alembic environment: runs on the connection lmops hands it (or the URL in settings)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlmodel import SQLModel

import lmops_core.annotation.models  # noqa: F401
import lmops_core.governance.models  # noqa: F401
import lmops_core.registry.models  # noqa: F401  - registers the tables on SQLModel.metadata

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from lmops_core.registry.db import normalize_url
    from lmops_core.settings import get_settings

    url = context.config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url
    engine = create_engine(normalize_url(url))
    with engine.begin() as conn:
        _run(conn)
