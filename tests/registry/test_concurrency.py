"""16 processes allocate 100 versions each of one model at once: exactly 1..1600."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from lmops_core.digests import digest_bytes
from lmops_core.registry import store
from lmops_core.workspace import Workspace
from tests.conftest import make_settings, run_workers

PROCESSES = 16
PER_PROCESS = 100


def _worker(home: str, url: str, worker: int, errors: mp.Queue) -> None:  # type: ignore[type-arg]
    try:
        ws = Workspace.open(make_settings(Path(home), url, actor=f"writer-{worker}"))
        for i in range(PER_PROCESS):
            with ws.db.write() as s:
                store.create_version(
                    s,
                    ws.audit_writer,
                    asset_type="model",
                    name="contended",
                    fields={
                        "digest": digest_bytes(f"{worker}-{i}".encode()),
                        "kind": "base",
                        "size_bytes": 1,
                        "meta": {"worker": worker, "i": i},
                    },
                )
        ws.close()
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        errors.put(f"worker {worker}: {type(exc).__name__}: {exc}")


def test_concurrent_version_allocation(tmp_path: Path, db_url: str) -> None:
    home = tmp_path / "home"
    Workspace.open(make_settings(home, db_url)).close()  # migrate once up front
    run_workers(_worker, home, db_url, PROCESSES)
    ws = Workspace.open(make_settings(home, db_url))
    versions = [v.version for v in ws.list_versions("model", "contended")]
    assert versions == list(range(1, PROCESSES * PER_PROCESS + 1))
    digests = {v.digest for v in ws.list_versions("model", "contended")}
    assert len(digests) == PROCESSES * PER_PROCESS
    result = ws.verify_audit()
    assert result.ok, str(result)
    assert result.events == 1 + PROCESSES * PER_PROCESS  # one model.create, then the versions
    ws.close()
