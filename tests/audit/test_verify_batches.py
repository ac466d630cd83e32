"""Verification reads the chain in batches; on PostgreSQL the next batch is fetched early."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from lmops_core.audit.chain import VerifyResult, prefetched, verify_session
from lmops_core.workspace import Workspace
from tests.conftest import write_jsonl


class Batches:
    """A fetch that hands out ``batches`` in turn and notes what ran at the same time."""

    def __init__(
        self, batches: list[list[int]], *, fail_at: int | None = None, hold_from: int | None = None
    ) -> None:
        self.batches = batches
        self.fail_at = fail_at
        self.hold_from = hold_from  # fetches from this one on wait for ``release``
        self.calls = 0
        self.done = 0
        self.running = 0
        self.most_running = 0
        self.release = threading.Event()
        self.held = threading.Event()  # a fetch is waiting for ``release``
        self._lock = threading.Lock()

    def __call__(self) -> list[int]:
        with self._lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            call = self.calls
            self.calls += 1
        try:
            if self.hold_from is not None and call >= self.hold_from:
                self.held.set()
                self.release.wait()
            if call == self.fail_at:
                raise RuntimeError(f"fetch {call} failed")
            return self.batches[call] if call < len(self.batches) else []
        finally:
            with self._lock:
                self.running -= 1
                self.done += 1


def test_batches_come_in_order_until_an_empty_one_one_fetch_at_a_time() -> None:
    fetch = Batches([[1, 2], [3], [4, 5, 6]])
    assert list(prefetched(fetch)) == [[1, 2], [3], [4, 5, 6]]
    assert fetch.calls == 4  # the empty batch ends it; nothing is asked for after it
    assert fetch.most_running == 1


def test_a_failed_fetch_raises_where_its_batch_is_asked_for() -> None:
    fetch = Batches([[1], [2], [3]], fail_at=1)
    batches = prefetched(fetch)
    assert next(batches) == [1]
    with pytest.raises(RuntimeError, match="fetch 1 failed"):
        next(batches)


def test_closing_early_waits_for_the_fetch_in_flight() -> None:
    fetch = Batches([[1], [2], [3]], hold_from=1)
    batches = prefetched(fetch)
    assert next(batches) == [1]  # the second fetch is asked for, and held
    assert fetch.held.wait(timeout=120)
    closer = threading.Thread(target=batches.close)
    closer.start()
    # Held back, the fetch keeps the generator from closing (the caller would close the
    # cursor under it otherwise), however long the closer is given.
    closer.join(timeout=0.2)
    assert closer.is_alive() and fetch.done == 1
    fetch.release.set()
    closer.join(timeout=120)
    assert not closer.is_alive()
    assert (fetch.calls, fetch.done) == (2, 2)  # nothing more was asked for


@pytest.fixture
def chain_ws(ws: Workspace, tmp_path: Path) -> Workspace:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "hello"}])
    for name in ("a", "b", "c", "d"):
        ref = ws.register_dataset(name, path, shape="text").ref
        ws.tag(ref, "k", name)
    return ws


def _verify(ws: Workspace, batch: int) -> VerifyResult:
    with ws.db.read() as s:
        return verify_session(s, ws._audit_key, batch=batch)


def test_small_batches_verify_the_whole_chain_on_each_store(chain_ws: Workspace) -> None:
    whole = chain_ws.verify_audit()
    assert whole.ok and whole.events == 20
    for batch in (1, 2, 3, 7, 20, 21):
        result = _verify(chain_ws, batch)
        assert result.ok and result.events == 20, (batch, str(result))


def test_an_edit_is_found_with_batches_in_flight_and_the_store_stays_usable(
    chain_ws: Workspace,
) -> None:
    with chain_ws.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 5"))
    for batch in (1, 2, 3):
        result = _verify(chain_ws, batch)
        assert not result.ok and result.first_bad_seq == 5, (batch, str(result))
    # Verification left early each time; every connection it used is fit for the next one.
    assert chain_ws.verify_audit().first_bad_seq == 5
    assert len(chain_ws.list_assets("dataset")) == 4
