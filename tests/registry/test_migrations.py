"""The committed Alembic revisions build exactly the schema the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from lmops_core.registry.db import Database, normalize_url

MIGRATIONS = Path(__file__).resolve().parents[2] / "src" / "lmops_core" / "migrations"


def test_migrations_match_models_and_downgrade_cleanly(empty_db_url: str) -> None:
    db_url = empty_db_url
    db = Database(db_url)
    db.migrate()
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", normalize_url(db_url))
    command.check(cfg)  # raises if the models and the migrated schema differ
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    db.migrate()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT seq FROM audit_head").scalar_one() == 0
    db.dispose()
