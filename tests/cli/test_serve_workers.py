"""``lmops serve --workers 2``: two real server processes share console sign-ins.

The test finds which worker process accepted each TCP connection (Linux: the
connection's socket inode in ``/proc/net/tcp``, then the worker holding that
socket), signs in on a connection one worker serves, uses the session on a
connection the other worker serves, and signs out through the first.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest

from lmops_core.api.sessions import SESSION_COOKIE, SIGN_IN_COOKIE
from tests.api.test_console_pages import csrf_of
from tests.cli.conftest import Shell


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def _inode(server_port: int, client_port: int) -> str | None:
    """The inode of the server side of the connection from ``client_port``."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == (
            client_port
        ):
            return fields[9]
    return None


def _serving_pid(
    server: subprocess.Popen[bytes], port: int, conn: http.client.HTTPConnection
) -> int:
    """The worker process that accepted ``conn`` (waits for the accept)."""
    assert conn.sock is not None
    client_port = conn.sock.getsockname()[1]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        inode = _inode(port, client_port)
        for pid in _descendants(server.pid):
            try:
                fds = os.listdir(f"/proc/{pid}/fd")
            except OSError:
                continue
            for fd in fds:
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                        return pid
                except OSError:
                    continue
        time.sleep(0.05)
    raise AssertionError("no worker process accepted the connection")


@pytest.fixture
def served(governed: Shell) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """``lmops serve --workers 2`` on the governed store, on a free loopback port."""
    port = _free_port()
    lmops = Path(sys.executable).with_name("lmops")
    env = {**os.environ, **governed.env}
    server = subprocess.Popen(
        [str(lmops), "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                probe.request("GET", "/health")
                if probe.getresponse().status == 200:
                    probe.close()
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "lmops serve --workers 2 did not start"
            time.sleep(0.2)
        yield server, port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def _connect(port: int) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.connect()
    return conn


def _send(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    cookies: dict[str, str],
    form: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], str]:
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    body = None
    if form is not None:
        body = urlencode(form)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    text = response.read().decode()
    jar = SimpleCookie()
    for value in response.headers.get_all("set-cookie") or []:
        jar.load(value)
    return response.status, {k: m.value for k, m in jar.items()}, text


def test_a_sign_in_made_through_one_worker_holds_in_the_other(
    governed: Shell, served: tuple[subprocess.Popen[bytes], int]
) -> None:
    server, port = served
    first = _connect(port)
    first_pid = _serving_pid(server, port, first)
    status, set_cookies, form = _send(first, "GET", "/console/sign-in", {})
    assert status == 200
    fields = {"csrf": csrf_of(form), "next": "/console", "token": governed.tokens["risk"]}
    status, set_cookies, _ = _send(
        first, "POST", "/console/sign-in", {SIGN_IN_COOKIE: set_cookies[SIGN_IN_COOKIE]}, fields
    )
    assert status == 303
    session = {SESSION_COOKIE: set_cookies[SESSION_COOKIE]}

    # A connection the other worker process accepted serves the same session.
    other = _connect(port)
    for _ in range(100):
        if _serving_pid(server, port, other) != first_pid:
            break
        other.close()
        other = _connect(port)
    else:
        raise AssertionError("every connection went to one worker process")
    status, _, page = _send(other, "GET", "/console", session)
    assert status == 200 and 'id="signed-in-as">risk<' in page

    # Signed out through the first process: the other one no longer knows the session.
    status, _, _ = _send(first, "POST", "/console/sign-out", session, {"csrf": csrf_of(page)})
    assert status == 303
    status, _, _ = _send(other, "GET", "/console", session)
    assert status == 303
    first.close()
    other.close()
