"""Errors: one JSON shape, statuses by domain code, JSON-only bodies, trusted hosts."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from lmops_core import errors as e
from lmops_core.api.config import ApiSettings
from lmops_core.api.errors import status_for
from tests.api.conftest import Env


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (e.NotFoundError("x"), 404),
        (e.AlreadyExistsError("x"), 409),
        (e.ConflictError("x"), 409),
        (e.ValidationError("x"), 422),
        (e.UnsafePathError("x"), 422),
        (e.UnsafeContentError("x"), 422),
        (e.PolicyViolationError("x"), 409),
        (e.PermissionDeniedError("x"), 403),
        (e.AuthenticationError("x"), 401),
        (e.PolicyError("x"), 422),
        (e.IntegrityError("x"), 409),
        (e.AuditChainError("x"), 409),
        (e.PluginError("x"), 500),
        (e.LmopsError("x"), 500),
    ],
)
def test_status_by_code(exc: e.LmopsError, status: int) -> None:
    assert status_for(exc) == status


def test_subclass_without_own_entry_uses_parent_code() -> None:
    class OddInput(e.ValidationError):
        code = "odd_input"

    assert status_for(OddInput("x")) == 422


def test_policy_refusal_is_409_with_reasons(client: TestClient, sqlite_env: Env) -> None:
    ref = sqlite_env.model(acc=0.3)
    r = sqlite_env.request(client, ref)
    assert r.status_code == 409
    body = r.json()
    assert body["code"] == "policy_violation" and "accuracy below 0.5" in body["message"]
    assert body["details"]["evaluation"]["allowed"] is False


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"ref": "model:nothing@1", "to": "production"}, 404, "not_found"),
        ({"ref": "model:chat@1", "to": "heaven"}, 422, "validation_error"),
        ({"ref": "martian:chat@1", "to": "production"}, 422, "validation_error"),
        ({"ref": "model:chat\x00@1", "to": "production"}, 422, "validation_error"),
        ({"ref": "", "to": "production"}, 422, "validation_error"),
        ({"to": "production"}, 422, "validation_error"),
    ],
)
def test_explain_bad_input(
    client: TestClient, sqlite_env: Env, params: dict[str, str], status: int, code: str
) -> None:
    sqlite_env.model()
    r = client.get("/api/v1/policy/explain", params=params, headers=sqlite_env.auth("view"))
    assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert set(r.json()) == {"code", "message", "details"}


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b'{"ref": 1, "to": "production"}',
        b'{"ref": "a", "to": "b", "x": 1}',
        b'{"ref": "a\\u0000", "to": "production"}',
        b'{"ref": "\\ud800", "to": "production"}',
        b'"\xff\xfe"',
    ],
)
def test_malformed_bodies_are_422_never_500(
    client: TestClient, sqlite_env: Env, body: bytes
) -> None:
    r = client.post(
        "/api/v1/requests",
        content=body,
        headers={**sqlite_env.auth("sub"), "Content-Type": "application/json"},
    )
    assert r.status_code in (400, 422), r.text
    assert r.json()["code"] in ("validation_error", "bad_request")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_non_json_bodies_are_415(
    client: TestClient, sqlite_env: Env, content_type: str | None
) -> None:
    headers = dict(sqlite_env.auth("sub"))
    if content_type:
        headers["Content-Type"] = content_type
    r = client.post("/api/v1/requests", content=b"ref=model:chat&to=production", headers=headers)
    assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type"


def test_json_with_charset_is_accepted(client: TestClient, sqlite_env: Env) -> None:
    ref = sqlite_env.model()
    r = client.post(
        "/api/v1/requests",
        content=f'{{"ref": "{ref}", "to": "production"}}',
        headers={**sqlite_env.auth("sub"), "Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 201, r.text


def test_unknown_host_is_refused(client: TestClient) -> None:
    assert client.get("/health").status_code == 200
    for host in ("evil.example", "127.0.0.2", "localhost.evil.example", "[::2]"):
        assert client.get("/health", headers={"Host": host}).status_code == 400


def test_default_hosts_are_loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ApiSettings().host_patterns() == ["127.0.0.1", "localhost", "[::1]"]
    monkeypatch.setenv("LMOPS_API_ALLOWED_HOSTS", "api.internal, 10.0.0.5")
    assert ApiSettings().allowed_hosts == ["api.internal", "10.0.0.5"]
    monkeypatch.setenv("LMOPS_API_ALLOWED_HOSTS", "*")
    with pytest.raises(ValueError, match="may not contain"):
        ApiSettings()


def test_unknown_route_and_method_use_the_error_shape(client: TestClient, sqlite_env: Env) -> None:
    r = client.get("/api/v1/nothing", headers=sqlite_env.auth("view"))
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.delete("/api/v1/inventory", headers=sqlite_env.auth("view"))
    assert r.status_code == 405 and r.json()["code"] == "method_not_allowed"


def test_no_cors_headers(client: TestClient) -> None:
    r = client.options(
        "/api/v1/requests",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in r.headers
    r = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_docs_are_served_offline(client: TestClient) -> None:
    html = client.get("/docs").text
    assert "/static/swagger-ui/swagger-ui-bundle.js" in html
    assert "/static/swagger-ui/swagger-ui.css" in html
    assert "http://" not in html and "https://" not in html  # no CDN, no remote favicon
    js = client.get("/static/swagger-ui/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    schema = client.get("/openapi.json").json()
    assert "ApiToken" in schema["components"]["securitySchemes"]


def test_unexpected_errors_are_500_without_internals(sqlite_env: Env) -> None:
    from fastapi import Depends

    from lmops_core.api import create_app
    from lmops_core.api.security import PUBLIC

    app = create_app(sqlite_env.ws, api_settings=ApiSettings(allowed_hosts=["testserver"]))

    @app.get("/boom", dependencies=[Depends(PUBLIC)])
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/boom")
    assert r.status_code == 500
    assert r.json() == {"code": "internal_error", "message": "internal server error", "details": {}}
