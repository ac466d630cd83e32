"""Fixtures for admin-API tests: a governed store with users, tokens and a model."""

from __future__ import annotations

import textwrap
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lmops_core.api import create_app
from lmops_core.api.config import ApiSettings
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder, make_settings

POLICY = textwrap.dedent("""
    apiVersion: lmops/v1
    kind: Policy
    name: api-test
    rules:
      - name: prod
        applies_to: {asset: model, transition: production}
        evidence:
          - {kind: eval}
        conditions:
          - name: accuracy
            expr: evidence.eval.metrics.acc >= 0.5
            message: accuracy below 0.5
        approvals:
          - {role: validator, count: 1}
          - {role: risk_officer, count: 1}
        separation_of_duties: true
        request_ttl: 7d
""")

#: user -> roles; "author" registers models, "subval" both submits and validates.
USERS: dict[str, tuple[str, ...]] = {
    "root-admin": ("admin",),
    "view": ("viewer",),
    "sub": ("submitter",),
    "val": ("validator",),
    "risk": ("risk_officer",),
    "steward": ("data_steward",),
    "author": ("validator",),
    "subval": ("submitter", "validator"),
}
#: The user whose token stands for each role in the role x route matrix.
ROLE_USER = {"admin": "root-admin", "viewer": "view", "submitter": "sub", "validator": "val",
             "risk_officer": "risk", "data_steward": "steward"}


@dataclass
class Env:
    """A governed store, its app, a token per user and a way to add models."""

    ws: Workspace
    app: FastAPI
    policy_file: Path
    tmp: Path
    tokens: dict[str, str] = field(default_factory=dict)
    models: int = 0

    def auth(self, user: str) -> dict[str, str]:
        """The Authorization header of ``user``."""
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def as_user(self, user: str) -> Workspace:
        """The store acting as ``user`` through their token."""
        return self.ws.with_token(self.tokens[user])

    def model(self, acc: float | None = 0.8, name: str = "chat") -> str:
        """Register a model version as ``author``, with eval evidence measured by ``val``."""
        self.models += 1
        folder = make_model_folder(self.tmp / f"model{self.models}", bytes([self.models]) * 64)
        v = self.as_user("author").register_model(name, folder)
        if acc is not None:
            self.ws.as_actor("val").attach_evidence(v.ref, kind="eval", digest=v.digest,
                                                    metrics={"acc": acc})
        return v.ref


def build_env(tmp_path: Path, db_url: str | None) -> Env:
    """Open a store with the test policy, bootstrap an admin, create users and tokens."""
    policies = tmp_path / "policies"
    policies.mkdir()
    policy_file = policies / "api-test.yaml"
    policy_file.write_text(POLICY)
    ws = Workspace.open(make_settings(tmp_path / "home", db_url, policies_dir=policies))
    root_token = ws.governance.bootstrap_admin("root-admin")  # explicit, audited bootstrap
    admin = ws.with_token(root_token).governance
    env = Env(ws=ws, app=create_app(ws, api_settings=ApiSettings(
        allowed_hosts=["127.0.0.1", "localhost", "::1", "testserver"])),
        policy_file=policy_file, tmp=tmp_path)
    env.tokens["root-admin"] = root_token
    for user, roles in USERS.items():
        if user == "root-admin":
            continue
        for role in roles[1:]:
            admin.grant_role(user, role)
        env.tokens[user] = admin.create_token(user, role=roles[0], description="tests")
    return env


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> Iterator[Env]:
    """A governed store on SQLite and on PostgreSQL."""
    e = build_env(tmp_path, db_url)
    yield e
    e.ws.close()


@pytest.fixture
def sqlite_env(tmp_path: Path) -> Iterator[Env]:
    """A governed store on SQLite only."""
    e = build_env(tmp_path, None)
    yield e
    e.ws.close()


@pytest.fixture
def client(sqlite_env: Env) -> Iterator[TestClient]:
    """An in-process client of the SQLite app."""
    with TestClient(sqlite_env.app) as c:
        yield c


@contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """``app`` on a real uvicorn server on a free loopback port (its base URL), then stopped."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # a bound on a broken start, not a wait
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    port = srv.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=60)
    assert not thread.is_alive()
