"""Processes racing to open a brand-new store agree on one genesis, and their checkpoints hold."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from sqlalchemy import text

from lmops_core.registry.db import Database
from lmops_core.workspace import Workspace
from tests.conftest import make_settings, run_workers

PROCESSES = 8
PER_PROCESS = 20


def _worker(home: str, url: str, worker: int, errors: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        ws = Workspace.open(
            make_settings(Path(home), url, actor=f"writer-{worker}", audit_checkpoint_every=7)
        )
        data = Path(home).parent / f"d{worker}.jsonl"
        data.write_text('{"text": "x"}\n')
        ref = ws.register_dataset(f"set-{worker}", data, shape="text").ref
        for i in range(PER_PROCESS):
            ws.tag(ref, "i", str(i))
        ws.close()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        errors.put(f"worker {worker}: {type(exc).__name__}: {exc}")


def test_racing_first_opens_share_one_genesis(tmp_path: Path, db_url: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    db = Database(db_url)
    db.migrate()  # schema only: the genesis is left to the racing processes
    db.dispose()
    run_workers(_worker, home, db_url, PROCESSES)
    with Workspace.open(make_settings(home, db_url)) as ws:
        result = ws.verify_audit()
        assert result.ok, str(result)
        with ws.db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_genesis")).scalar_one() == 1
        assert len(ws.artifacts.list_records("audit/stores")) == 1
