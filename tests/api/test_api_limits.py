"""Attacks on the admin API's limits: huge bodies, out-of-range integers, server paths.

Bodies are capped before authentication, counted as they arrive (chunked ones
too); integers outside the database's column range are a 422 naming the field;
no answer or error shows an absolute path of the server.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lmops_core.api import create_app
from lmops_core.api.config import ApiSettings
from tests.api.conftest import Env, live_server

FIFTY_MB = 50 * 1024 * 1024
CHUNK = 64 * 1024
INT64_MAX = 2**63 - 1


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8650),
    }


def _call(
    app: FastAPI, headers: list[tuple[bytes, bytes]], body_size: int
) -> tuple[list[dict[str, Any]], int]:
    """Drive the app with a body of ``body_size`` bytes offered lazily in 64 KiB chunks.

    Returns the messages sent and how many body bytes the app actually pulled.
    """
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled >= body_size:
            return {"type": "http.request", "body": b"", "more_body": False}
        size = min(CHUNK, body_size - pulled)
        pulled += size
        return {"type": "http.request", "body": b"{" * size, "more_body": pulled < body_size}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(_scope("/api/v1/requests", headers), receive, send))  # type: ignore[arg-type]
    return sent, pulled


def _status(sent: list[dict[str, Any]]) -> list[int]:
    return [m["status"] for m in sent if m["type"] == "http.response.start"]


def _body(sent: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    )
    return data


HOST = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]


def test_declared_huge_body_is_refused_unread_and_unauthenticated(sqlite_env: Env) -> None:
    sent, pulled = _call(
        sqlite_env.app, [*HOST, (b"content-length", str(FIFTY_MB).encode())], FIFTY_MB
    )
    assert _status(sent) == [413] and pulled == 0
    assert "limit is 1048576 bytes" in _body(sent)["message"]


def test_chunked_huge_body_is_cut_at_the_cap(sqlite_env: Env) -> None:
    sent, pulled = _call(sqlite_env.app, [*HOST, (b"transfer-encoding", b"chunked")], FIFTY_MB)
    assert _status(sent) == [413], "exactly one answer, and it is the 413"
    assert pulled <= 1024 * 1024 + CHUNK
    assert _body(sent)["code"] == "payload_too_large"


def test_a_body_with_a_token_is_capped_too(sqlite_env: Env) -> None:
    auth = [(b"authorization", f"Bearer {sqlite_env.tokens['sub']}".encode())]
    sent, pulled = _call(
        sqlite_env.app, [*HOST, *auth, (b"transfer-encoding", b"chunked")], FIFTY_MB
    )
    assert _status(sent) == [413] and pulled <= 1024 * 1024 + CHUNK


def test_the_cap_is_a_setting_and_exact(sqlite_env: Env) -> None:
    app = create_app(
        sqlite_env.ws,
        api_settings=ApiSettings(allowed_hosts=["127.0.0.1", "testserver"], max_body_bytes=300),
    )
    auth = sqlite_env.auth("sub")
    body = {"ref": "model:nope@1", "to": "production"}
    encoded = json.dumps(body).encode()
    padded = encoded[:-1] + b" " * (300 - len(encoded)) + b"}"
    assert len(padded) == 300
    with TestClient(app) as client:
        ok = client.post(
            "/api/v1/requests", content=padded, headers={**auth, "Content-Type": "application/json"}
        )
        assert ok.status_code == 404  # reached the service: no such model
        over = client.post(
            "/api/v1/requests",
            content=padded + b" ",
            headers={**auth, "Content-Type": "application/json"},
        )
        assert over.status_code == 413
        bad = client.post(
            "/api/v1/requests",
            content=b"{}",
            headers={**auth, "Content-Type": "application/json", "Content-Length": "-1"},
        )
        assert bad.status_code in (400, 413)


@pytest.fixture
def live(sqlite_env: Env) -> Iterator[int]:
    """The app on a real uvicorn server on a free loopback port."""
    with live_server(sqlite_env.app, lifespan="off") as port:
        yield port


def _response_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_real_server_refuses_a_declared_50mb_body_before_it_arrives(live: int) -> None:
    with socket.create_connection(("127.0.0.1", live), timeout=30) as sock:
        sock.sendall(
            b"POST /api/v1/requests HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n" + f"Content-Length: {FIFTY_MB}\r\n\r\n".encode()
        )
        assert _response_head(sock).startswith(b"HTTP/1.1 413")


def test_real_server_cuts_a_chunked_stream(live: int) -> None:
    chunk = f"{CHUNK:x}\r\n".encode() + b"[" * CHUNK + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", live), timeout=30) as sock:
        sock.sendall(
            b"POST /api/v1/requests HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent < FIFTY_MB:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                sock.sendall(chunk)
                sent += CHUNK
        except OSError:
            pass  # the server closed the connection on us: that is a refusal too
        head = _response_head(sock)
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert sent < FIFTY_MB


# -- integers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("after=9223372036854775808", "after"),
        ("after=-1", "after"),
        ("after=99999999999999999999999", "after"),
        ("after=1e3", "after"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-5", "limit"),
    ],
)
def test_audit_integers_outside_the_column_range_are_422(env: Env, query: str, field: str) -> None:
    with TestClient(env.app) as client:
        r = client.get(f"/api/v1/audit/events?{query}", headers=env.auth("view"))
    assert r.status_code == 422, r.text
    assert f"query.{field}" in r.json()["message"]


@pytest.mark.parametrize("after", [2147483647, 2147483648, INT64_MAX])
def test_audit_after_accepts_the_whole_64_bit_range(env: Env, after: int) -> None:
    with TestClient(env.app) as client:
        r = client.get(f"/api/v1/audit/events?after={after}", headers=env.auth("view"))
    assert r.status_code == 200, r.text
    assert r.json() == []


@pytest.mark.parametrize("path", ["/api/v1/requests", "/api/v1/inventory"])
def test_paging_offsets_are_checked_against_64_bits(env: Env, path: str) -> None:
    with TestClient(env.app) as client:
        too_far = client.get(f"{path}?offset={INT64_MAX + 1}", headers=env.auth("view"))
        negative = client.get(f"{path}?offset=-1", headers=env.auth("view"))
        last = client.get(f"{path}?offset={INT64_MAX}", headers=env.auth("view"))
    assert too_far.status_code == negative.status_code == 422
    assert "query.offset" in too_far.json()["message"]
    assert last.status_code == 200 and last.json()["items"] == []


# -- server paths ------------------------------------------------------------------------


def test_readers_never_see_absolute_server_paths(env: Env) -> None:
    ref = env.model()
    # A broken policy file next to the good one makes an error that names a file.
    with TestClient(env.app) as client:
        view = env.auth("view")
        created = client.post(
            "/api/v1/requests", headers=env.auth("sub"), json={"ref": ref, "to": "production"}
        )
        assert created.status_code == 201, created.text
        rid = created.json()["id"]
        answers = [
            created.text,
            client.get("/api/v1/requests", headers=view).text,
            client.get(f"/api/v1/requests/{rid}", headers=view).text,
            client.get(f"/api/v1/requests/{rid}/report", headers=view).text,
            client.get("/api/v1/inventory", headers=view).text,
            client.get(f"/api/v1/policy/explain?ref={ref}&to=production", headers=view).text,
            client.get("/api/v1/audit/events?limit=1000", headers=view).text,
        ]
        detail = client.get(f"/api/v1/requests/{rid}", headers=view).json()
        assert list(detail["policy_digests"]) == ["policies/api-test.yaml"]
        (env.policy_file.parent / "broken.yaml").write_text("apiVersion: [unclosed\n")
        broken = client.get(f"/api/v1/policy/explain?ref={ref}&to=production", headers=view)
        assert broken.status_code in (409, 422, 500) and "broken.yaml" in broken.text
        answers.append(broken.text)
    roots = {
        str(env.tmp),
        str(env.tmp.resolve()),
        str(env.ws.settings.home),
        str(env.policy_file.parent),
        str(Path.home()),
        os.getcwd(),
    }
    for text in answers:
        for root in roots:
            assert root not in text, (root, text[:300])
