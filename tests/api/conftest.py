"""Fixtures for admin-API tests: a governed store with users, tokens and a model."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lmops_core.api import create_app
from lmops_core.api.config import ApiSettings
from lmops_core.workspace import Workspace
from tests.conftest import make_model_folder, policy_ws, prod_policy, write_jsonl

POLICY = prod_policy("api-test", evidence="{kind: eval}", more=("request_ttl: 7d",))

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
ROLE_USER = {
    "admin": "root-admin",
    "viewer": "view",
    "submitter": "sub",
    "validator": "val",
    "risk_officer": "risk",
    "data_steward": "steward",
}


@dataclass
class Env:
    """A governed store, its app, a token per user and a way to add models."""

    ws: Workspace
    app: FastAPI
    policy_file: Path
    tmp: Path
    tokens: dict[str, str] = field(default_factory=dict)
    models: int = 0
    datasets: str | None = None

    def auth(self, user: str) -> dict[str, str]:
        """The Authorization header of ``user``."""
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def as_user(self, user: str) -> Workspace:
        """The store acting as ``user`` through their token."""
        return self.ws.with_token(self.tokens[user])

    def request(self, c: httpx.Client, ref: str, user: str = "sub") -> httpx.Response:
        """``user`` asks over HTTP for ``ref`` to enter production."""
        return c.post(
            "/api/v1/requests", json={"ref": ref, "to": "production"}, headers=self.auth(user)
        )

    def decide(
        self, c: httpx.Client, request: dict[str, Any], user: str, role: str, comment: str
    ) -> httpx.Response:
        """``user`` approves ``request`` (as the API returned it) over HTTP, as ``role``."""
        return c.post(
            f"/api/v1/requests/{request['id']}/approve",
            json={"role": role, "comment": comment},
            headers=self.auth(user),
        )

    def dataset(self, name: str = "tickets") -> str:
        """The reference of a small instruction dataset, registered once by ``author``."""
        if self.datasets is None:
            rows = [{"prompt": f"question {i}", "response": f"answer {i}"} for i in range(4)]
            path = write_jsonl(self.tmp / f"{name}.jsonl", rows)
            self.datasets = (
                self.as_user("author").register_dataset(name, path, shape="instruction").ref
            )
        return self.datasets

    def model(self, acc: float | None = 0.8, name: str = "chat") -> str:
        """Register a model version as ``author``, with eval evidence measured by ``val``."""
        self.models += 1
        folder = make_model_folder(self.tmp / f"model{self.models}", bytes([self.models]) * 64)
        v = self.as_user("author").register_model(name, folder)
        if acc is not None:
            self.ws.as_actor("val").attach_evidence(
                v.ref, kind="eval", digest=v.digest, metrics={"acc": acc}
            )
        return v.ref


def build_env(tmp_path: Path, db_url: str | None, policy: str = POLICY) -> Env:
    """Open a store with ``policy`` (the test policy), bootstrap an admin, create users and
    tokens."""
    ws = policy_ws(tmp_path, policy, db_url, file="api-test.yaml")
    policy_file = tmp_path / "policies" / "api-test.yaml"
    root_token = ws.governance.bootstrap_admin("root-admin")  # explicit, audited bootstrap
    admin = ws.with_token(root_token).governance
    env = Env(
        ws=ws,
        app=create_app(
            ws,
            api_settings=ApiSettings(allowed_hosts=["127.0.0.1", "localhost", "::1", "testserver"]),
        ),
        policy_file=policy_file,
        tmp=tmp_path,
    )
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
def sqlite_env(tmp_path: Path, sqlite_home: Path) -> Iterator[Env]:
    """A governed store on SQLite only (the embedded store of ``sqlite_home``)."""
    e = build_env(tmp_path, None)
    yield e
    e.ws.close()


@pytest.fixture
def client(sqlite_env: Env) -> Iterator[TestClient]:
    """An in-process client of the SQLite app."""
    with TestClient(sqlite_env.app) as c:
        yield c


@contextlib.contextmanager
def live_server(app: FastAPI, *, lifespan: Literal["on", "off"]) -> Iterator[int]:
    """``app`` on a real uvicorn server on a free loopback port: yields the port, and stops
    the server afterwards (waits for it to start or to die, never for a fixed time)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan=lifespan)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        thread.join(0.01)
    try:
        port: int = server.servers[0].sockets[0].getsockname()[1]
        yield port
    finally:
        server.should_exit = True
        thread.join()


@contextlib.contextmanager
def running(app: FastAPI) -> Iterator[str]:
    """``app`` on a real uvicorn server on a free loopback port (its base URL), then stopped."""
    with live_server(app, lifespan="on") as port:
        yield f"http://127.0.0.1:{port}"
