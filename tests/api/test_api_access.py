"""Default deny, the role x route matrix, and separation of duties over HTTP."""

from __future__ import annotations

from fastapi import Depends
from fastapi.testclient import TestClient

from lmops_core.api import create_app
from lmops_core.api.config import ApiSettings
from lmops_core.api.security import PUBLIC, READERS, routes_of
from tests.api.conftest import ROLE_USER, Env

ROLES = tuple(ROLE_USER)
ALL = set(ROLES)
MISSING = "0" * 32
SAMPLE_REVIEWERS = {"data_steward", "validator", "admin"}

# (method, path template, roles allowed or "public", status for an allowed caller).
# Allowed callers get the status the service gives these inputs: missing requests are 404.
MATRIX: list[tuple[str, str, set[str] | str, int]] = [
    ("GET", "/health", "public", 200),
    ("GET", "/", "public", 200),  # leads to the console's sign-in page
    ("GET", "/openapi.json", "public", 200),
    ("GET", "/docs", "public", 200),
    ("MOUNT", "/static/swagger-ui", "public", 200),
    ("GET", "/api/v1/requests", ALL, 200),
    ("GET", "/api/v1/requests/{request_id}", ALL, 404),
    ("POST", "/api/v1/requests", {"submitter", "admin"}, 201),
    (
        "POST",
        "/api/v1/requests/{request_id}/approve",
        {"validator", "risk_officer", "data_steward", "admin"},
        404,
    ),
    (
        "POST",
        "/api/v1/requests/{request_id}/reject",
        {"validator", "risk_officer", "data_steward", "admin"},
        404,
    ),
    ("GET", "/api/v1/inventory", ALL, 200),
    ("GET", "/api/v1/guards", ALL, 200),
    ("GET", "/api/v1/audit/events", ALL - {"submitter"}, 200),
    ("POST", "/api/v1/audit/verify", {"risk_officer", "admin"}, 200),
    ("GET", "/api/v1/policy/explain", ALL, 200),
    ("GET", "/api/v1/requests/{request_id}/report", ALL, 404),
    ("GET", "/api/v1/retraining", ALL, 200),
    ("GET", "/api/v1/retraining/{request_id}", ALL, 404),
    (
        "POST",
        "/api/v1/retraining/{request_id}/close",
        {"submitter", "validator", "risk_officer", "admin"},
        404,
    ),
    ("GET", "/api/v1/reviews", ALL, 200),
    ("POST", "/api/v1/reviews", SAMPLE_REVIEWERS, 201),
    ("GET", "/api/v1/reviews/{review_id}", ALL, 404),
    ("POST", "/api/v1/reviews/{review_id}/accept", SAMPLE_REVIEWERS, 404),
    ("POST", "/api/v1/reviews/{review_id}/reject", SAMPLE_REVIEWERS, 404),
    ("POST", "/api/v1/reviews/{review_id}/finish", SAMPLE_REVIEWERS, 404),
]


def _kinds(client: TestClient) -> set[tuple[str, str]]:
    out = set()
    for ctx in routes_of(client.app.routes):  # type: ignore[attr-defined]
        if str(ctx.path).startswith("/console"):
            continue  # console pages use sessions, not tokens: tests/api/test_console_pages.py
        for method in sorted(ctx.methods or {"MOUNT"}):
            if method != "HEAD":
                out.add((method, str(ctx.path)))
    return out


def test_every_route_has_an_explicit_rule(client: TestClient) -> None:
    registry = client.app.state.access  # type: ignore[attr-defined]
    table = registry.table(client.app.routes)  # type: ignore[attr-defined]
    assert registry.unguarded(client.app.routes) == []  # type: ignore[attr-defined]
    assert all(rule is not None for _, _, rule in table)
    paths = {path for _, path, _ in table}
    # The docs and the OpenAPI document are routes too, and they are covered.
    assert {"/docs", "/openapi.json", "/static/swagger-ui"} <= paths
    # The matrix below lists every route of the app: a new route must be added there.
    assert _kinds(client) == {(m, p) for m, p, _, _ in MATRIX}


def test_route_without_rule_is_refused_at_build_and_at_call(sqlite_env: Env) -> None:
    app = create_app(sqlite_env.ws, api_settings=ApiSettings(allowed_hosts=["testserver"]))

    @app.get("/sneaky")
    def sneaky() -> dict[str, str]:
        return {"secret": "yes"}

    @app.get("/doubly", dependencies=[Depends(PUBLIC), Depends(READERS)])
    def doubly() -> dict[str, str]:
        return {"secret": "yes"}

    assert app.state.access.unguarded(app.routes) == ["GET /sneaky", "GET /doubly"]
    with TestClient(app) as c:
        for path in ("/sneaky", "/doubly"):
            r = c.get(path)
            assert r.status_code == 403 and r.json()["code"] == "permission_denied"
            assert "default deny" in r.json()["message"]


def _call(c: TestClient, env: Env, method: str, path: str, headers: dict[str, str]) -> int:
    ref = "model:chat@1"
    if method == "MOUNT":
        return c.get(f"{path}/swagger-ui.css", headers=headers).status_code
    url = path.replace("{request_id}", MISSING).replace("{review_id}", MISSING)
    if path == "/api/v1/policy/explain":
        return c.get(url, params={"ref": ref, "to": "production"}, headers=headers).status_code
    if path == "/api/v1/requests" and method == "POST":
        # A fresh version per call: a version may hold only one pending request per stage.
        fresh = env.model(acc=0.8)
        return c.post(url, json={"ref": fresh, "to": "production"}, headers=headers).status_code
    if path == "/api/v1/reviews" and method == "POST":
        body = {"ref": env.dataset(), "size": 2, "seed": 1}
        return c.post(url, json=body, headers=headers).status_code
    if path.startswith("/api/v1/reviews/") and method == "POST":
        body = {"indices": [0], **({"reason": "wrong"} if path.endswith("/reject") else {})}
        return c.post(
            url, json=body if not path.endswith("/finish") else {}, headers=headers
        ).status_code
    if path.endswith("/close"):
        return c.post(url, json={"comment": "done"}, headers=headers).status_code
    if path.endswith(("/approve", "/reject")):
        return c.post(url, json={"role": "admin", "comment": "ok"}, headers=headers).status_code
    return c.request(method, url, headers=headers).status_code


def test_role_by_route_matrix(sqlite_env: Env, client: TestClient) -> None:
    sqlite_env.model(acc=0.8)
    callers: dict[str, dict[str, str]] = {
        "no token": {},
        "bad token": {"Authorization": "Bearer lmops_deadbeef_notasecret"},
        "malformed": {"Authorization": "Bearer hello"},
        **{role: sqlite_env.auth(user) for role, user in ROLE_USER.items()},
    }
    seen: list[str] = []
    for method, path, allowed, ok_status in MATRIX:
        for caller, headers in callers.items():
            if allowed == "public":
                expected = ok_status
            elif caller in ("no token", "bad token", "malformed"):
                expected = 401
            else:
                expected = ok_status if caller in allowed else 403
            got = _call(client, sqlite_env, method, path, headers)
            if got != expected:
                seen.append(f"{caller:>12} {method} {path}: got {got}, expected {expected}")
    assert seen == []


def test_revoked_token_is_unauthenticated(client: TestClient, sqlite_env: Env) -> None:
    token = sqlite_env.tokens["view"]
    assert client.get("/api/v1/requests", headers=sqlite_env.auth("view")).status_code == 200
    sqlite_env.as_user("root-admin").governance.revoke_token(token.split("_")[1])
    r = client.get("/api/v1/requests", headers=sqlite_env.auth("view"))
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"
    assert r.headers["www-authenticate"] == "Bearer"


def test_self_approval_and_author_approval_are_refused(env: Env) -> None:
    with TestClient(env.app) as c:
        ref = env.model(acc=0.8)
        req = env.request(c, ref, "subval").json()
        own = env.decide(c, req, "subval", "validator", "looks fine to me")
        assert own.status_code == 403, own.text
        assert "separation of duties" in own.json()["message"]
        author = env.decide(c, req, "author", "validator", "my own model is fine")
        assert author.status_code == 403 and "authored" in author.json()["message"]
        not_held = env.decide(c, req, "val", "risk_officer", "pretending")
        assert not_held.status_code == 403 and not_held.json()["code"] == "permission_denied"
        detail = c.get(f"/api/v1/requests/{req['id']}", headers=env.auth("view")).json()
        assert detail["status"] == "pending" and detail["decisions"] == []


def test_tampered_policy_invalidates_pending_request(env: Env) -> None:
    with TestClient(env.app) as c:
        ref = env.model(acc=0.8)
        req = env.request(c, ref).json()
        env.policy_file.write_text(env.policy_file.read_text().replace(">= 0.5", ">= 0.1"))
        r = env.decide(c, req, "val", "validator", "validated")
        assert r.status_code == 409 and r.json()["code"] == "conflict"
        assert "api-test.yaml changed" in r.json()["message"]
        detail = c.get(f"/api/v1/requests/{req['id']}", headers=env.auth("view")).json()
        assert detail["status"] == "invalidated"
        assert env.ws.get(ref).stage is None
