"""Decisions over HTTP take turns: at most ``LMOPS_API_DECISIONS_AT_ONCE`` run at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from lmops_core.api import create_app
from lmops_core.api.config import ApiSettings
from lmops_core.governance.workflow import Governance
from tests.api.conftest import Env, build_env, running


class _Overlap:
    """Wraps ``Governance.decide``: counts decisions running at once, and keeps each one
    running until ``beyond`` have started or a second has passed, so that decisions the
    server lets overlap do overlap."""

    def __init__(self, decide: Any) -> None:
        self.decide = decide
        self.lock = threading.Lock()
        self.now = self.most = 0
        self.beyond = 2
        self.enough = threading.Event()

    def __call__(self, gov: Governance, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            if self.now >= self.beyond:
                self.enough.set()
        try:
            self.enough.wait(1)
            return self.decide(gov, *args, **kwargs)
        finally:
            with self.lock:
                self.now -= 1


@pytest.fixture
def overlap(monkeypatch: pytest.MonkeyPatch) -> _Overlap:
    wrapper = _Overlap(Governance.decide)

    def decide(gov: Governance, *args: Any, **kwargs: Any) -> Any:
        return wrapper(gov, *args, **kwargs)

    monkeypatch.setattr(Governance, "decide", decide)
    return wrapper


@pytest.fixture
def one_env(tmp_path: Path, sqlite_home: Path) -> Iterator[Env]:
    env = build_env(tmp_path, None)
    env.app = create_app(
        env.ws,
        api_settings=ApiSettings(allowed_hosts=["127.0.0.1"], decisions_at_once=1),
    )
    yield env
    env.ws.close()


def _approve_all(env: Env, url: str, count: int) -> list[httpx.Response]:
    with httpx.Client(base_url=url, timeout=60) as c:
        requests = [env.request(c, env.model(acc=0.8)).json() for _ in range(count)]

    def approve(req: dict[str, Any]) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=60) as c:
            return env.decide(c, req, "val", "validator", "validated on holdout")

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(approve, requests))


def test_one_decision_at_a_time_when_so_set(one_env: Env, overlap: _Overlap) -> None:
    with running(one_env.app) as url:
        answers = _approve_all(one_env, url, 4)
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert all(a.json()["approvals_so_far"] == {"validator": 1} for a in answers)
    assert overlap.most == 1


def test_decisions_overlap_up_to_the_default(sqlite_env: Env, overlap: _Overlap) -> None:
    at_once = ApiSettings().decisions_at_once
    assert at_once == 4
    overlap.beyond = at_once + 1  # each waits for one more than may run: it never comes
    sqlite_env.app = create_app(sqlite_env.ws, api_settings=ApiSettings())
    with running(sqlite_env.app) as url:
        answers = _approve_all(sqlite_env, url, at_once + 2)
    assert [a.status_code for a in answers] == [200] * (at_once + 2), [a.text for a in answers]
    assert overlap.most == at_once
