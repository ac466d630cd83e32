"""Fresh PostgreSQL databases for tests: one per test, dropped afterwards.

The server is named by ``LMOPS_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``,
trust auth), a database the tests' role may create databases from. Needs ``psycopg``
(the ``postgres`` extra of lmops).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: The database the tests connect to first, to create and drop their own.
PG_ADMIN_URL = os.environ.get("LMOPS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def pg_admin() -> Any:
    """An autocommit ``psycopg`` connection to :data:`PG_ADMIN_URL` (a context manager)."""
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True)


@contextmanager
def fresh_postgres_database(template: str | None = None) -> Iterator[str]:
    """The URL of a new database on the test server, dropped (forcibly) on exit: empty, or
    a copy of the database ``template`` (which nobody may be connected to meanwhile)."""
    name = f"lmops_t_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


__all__ = ["PG_ADMIN_URL", "fresh_postgres_database", "pg_admin"]
