"""The whole promotion workflow through HTTP: in-process and on a real uvicorn server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import Env, running

Client = TestClient | httpx.Client


def _run_workflow(c: Client, env: Env) -> dict[str, Any]:
    ref = env.model(acc=0.8)
    explained = c.get(
        "/api/v1/policy/explain", params={"ref": ref, "to": "production"}, headers=env.auth("sub")
    )
    assert explained.status_code == 200, explained.text
    assert explained.json()["allowed"] is True
    assert explained.json()["required_approvals"] == {"validator": 1, "risk_officer": 1}

    created = env.request(c, ref)
    assert created.status_code == 201, created.text
    req = created.json()
    assert req["status"] == "pending" and req["requested_by"] == "sub"

    listed = c.get("/api/v1/requests", params={"status": "pending"}, headers=env.auth("view"))
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["items"]] == [req["id"]]
    assert listed.json()["total"] == 1

    detail = c.get(f"/api/v1/requests/{req['id']}", headers=env.auth("view")).json()
    assert detail["evaluation"]["allowed"] is True
    assert any(e["kind"] == "eval" and e["metrics"] == {"acc": 0.8} for e in detail["evidence"])
    assert detail["current_in_stage"] is None

    first = env.decide(c, req, "val", "validator", "validated on holdout")
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "pending"
    assert first.json()["approvals_so_far"] == {"validator": 1}
    second = env.decide(c, req, "risk", "risk_officer", "risk accepted")
    assert second.status_code == 200, second.text
    assert second.json()["status"] == "approved"
    assert env.ws.get(ref).stage == "production"

    again = env.decide(c, req, "root-admin", "validator", "late")
    assert again.status_code == 409 and again.json()["code"] == "conflict"

    inv = c.get("/api/v1/inventory", headers=env.auth("view")).json()
    [model] = inv["items"]
    assert model["name"] == "chat" and model["risk_tier"] == "standard"
    assert [v["stage"] for v in model["versions"]] == ["production"]

    events = c.get(
        "/api/v1/audit/events", params={"subject": ref, "limit": 1000}, headers=env.auth("view")
    ).json()
    actions = [e["action"] for e in events]
    assert "promotion.request" in actions and "promotion.complete" in actions
    assert {e["actor"] for e in events if e["action"] == "approval.approve"} == {"val", "risk"}

    verified = c.post("/api/v1/audit/verify", headers=env.auth("risk"))
    assert verified.status_code == 200 and verified.json()["ok"] is True
    return req


def test_workflow_in_process(env: Env) -> None:
    with TestClient(env.app) as c:
        _run_workflow(c, env)


def test_rejection_closes_request_and_shows_open_requests(env: Env) -> None:
    with TestClient(env.app) as c:
        ref = env.model(acc=0.9)
        req = env.request(c, ref).json()
        inv = c.get("/api/v1/inventory", headers=env.auth("sub")).json()
        [version] = inv["items"][0]["versions"]
        assert [o["id"] for o in version["open_requests"]] == [req["id"]]
        no_comment = c.post(
            f"/api/v1/requests/{req['id']}/reject",
            json={"role": "risk_officer", "comment": "   "},
            headers=env.auth("risk"),
        )
        assert no_comment.status_code == 422 and no_comment.json()["code"] == "validation_error"
        rejected = c.post(
            f"/api/v1/requests/{req['id']}/reject",
            json={"role": "risk_officer", "comment": "too risky"},
            headers=env.auth("risk"),
        )
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        assert (
            c.get(
                "/api/v1/requests", params={"status": "rejected"}, headers=env.auth("view")
            ).json()["total"]
            == 1
        )
        assert env.ws.get(ref).stage is None


@pytest.fixture
def server(sqlite_env: Env) -> Iterator[str]:
    """The app on a real uvicorn server, on a free loopback port, stopped afterwards."""
    with running(sqlite_env.app) as url:
        yield url


def test_workflow_on_real_server(server: str, sqlite_env: Env) -> None:
    with httpx.Client(base_url=server, timeout=30) as c:
        assert c.get("/health").json() == {"status": "ok"}
        _run_workflow(c, sqlite_env)
        refused = c.get("/health", headers={"Host": "attacker.example"})
        assert refused.status_code == 400
        docs = c.get("/docs")
        assert docs.status_code == 200 and "/static/swagger-ui/swagger-ui-bundle.js" in docs.text
        assert c.get("/static/swagger-ui/swagger-ui-bundle.js").status_code == 200
