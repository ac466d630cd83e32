"""Guard versions over HTTP: ``GET /api/v1/guards`` and the console inventory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lmops_core.workspace import Workspace
from tests.api.conftest import POLICY, Env, build_env
from tests.api.test_console_pages import sign_in

GUARD_RULE = """\
  - name: guard-prod
    applies_to: {asset: guard, transition: production}
    approvals:
      - {role: validator, count: 1}
"""


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> Iterator[Env]:
    e = build_env(tmp_path, db_url, POLICY + GUARD_RULE)
    yield e
    e.ws.close()


def _register(env: Env, mode: str) -> str:
    """A guard version registered through a workspace on the same store that loads the plugin
    checking ``GuardConfig`` documents (lmops-serve), as ``author``."""
    settings = env.ws.settings.model_copy(update={"plugins": ["lmops_serve.plugin"]})
    path = env.tmp / f"guard-{mode}.yaml"
    path.write_text(f'name: retail\npii: {{mode: "{mode}"}}\n')
    with Workspace.open(settings) as ws:
        return ws.with_token(env.tokens["author"]).register_guard("retail", path).ref


def test_guards_are_listed_with_versions_and_open_requests(env: Env) -> None:
    first, second = _register(env, "redact"), _register(env, "block")
    with TestClient(env.app) as c:
        requested = env.request(c, second)
        assert requested.status_code == 201, requested.text
        body = c.get("/api/v1/guards", headers=env.auth("view")).json()
        assert c.get("/api/v1/inventory", headers=env.auth("view")).json()["items"] == []
    [guard] = body["items"]
    assert guard["name"] == "retail" and guard["risk_tier"] == "standard"
    assert [v["ref"] for v in guard["versions"]] == [first, second]
    assert {v["kind"] for v in guard["versions"]} == {"GuardConfig"}
    assert [len(v["open_requests"]) for v in guard["versions"]] == [0, 1]


def test_the_console_inventory_lists_guards(env: Env) -> None:
    ref = _register(env, "redact")
    with TestClient(env.app) as c:
        sign_in(c, env.tokens["view"], "view")
        inventory = c.get("/console/inventory")
        assert inventory.status_code == 200 and "/console/assets/guard/retail" in inventory.text
        page = c.get("/console/assets/guard/retail")
        assert page.status_code == 200 and ref.split(":", 1)[1] in page.text
