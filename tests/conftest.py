"""Shared fixtures: a fresh store on SQLite or on a fresh PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmops_core.settings import Settings, get_settings
from lmops_core.workspace import Workspace

PG_ADMIN_URL = os.environ.get("LMOPS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin():  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True)


@pytest.fixture(autouse=True)
def _fresh_settings() -> Iterator[None]:
    """Settings are cached per process; tests that change the environment need a new read."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    name = f"lmops_t_{uuid.uuid4().hex[:12]}"
    with _pg_admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(home: Path, database_url: str | None = None, **extra: object) -> Settings:
    """Settings for a test store: no third-party entry points unless asked for."""
    values: dict[str, object] = {"home": home, "database_url": database_url, "actor": "alice",
                                 "load_entry_points": False}
    values.update(extra)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The metadata store URL: SQLite under tmp_path, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def ws(tmp_path: Path, db_url: str) -> Iterator[Workspace]:
    """A workspace on each metadata backend."""
    workspace = Workspace.open(make_settings(tmp_path / "home", db_url))
    yield workspace
    workspace.close()


@pytest.fixture
def sqlite_ws(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace on the embedded default only."""
    workspace = Workspace.open(make_settings(tmp_path / "home"))
    yield workspace
    workspace.close()


def write_jsonl(path: Path, rows: list[object]) -> Path:
    import json

    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def make_model_folder(path: Path, payload: bytes = b"\x00" * 64) -> Path:
    """A minimal model folder with a real safetensors file (header + one tensor)."""
    import json
    import struct

    path.mkdir(parents=True, exist_ok=True)
    header = json.dumps({"w": {"dtype": "U8", "shape": [len(payload)],
                               "data_offsets": [0, len(payload)]}}).encode()
    (path / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + payload)
    (path / "config.json").write_text('{"model_type": "test"}')
    return path
