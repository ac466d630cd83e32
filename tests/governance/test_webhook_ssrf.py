"""Attacks on the alert webhook: it must not become a way into internal services.

Only loopback traffic happens here: every refused destination is refused before
any connection, and the receivers listen on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from lmops_core.errors import UnsafeDestinationError
from lmops_core.governance.monitoring import _deliver
from lmops_core.outbound import DestinationPolicy, post_json, resolve_destination
from lmops_core.workspace import Workspace
from tests.conftest import make_settings

LOOPBACK_ONLY = DestinationPolicy.from_strings(allow_networks=["127.0.0.1/32"])
STRICT = DestinationPolicy()

#: Hosts that name a non-public address, however spelled; none may be reached by default.
REFUSED_HOSTS = [
    "127.0.0.1",
    "127.1",
    "2130706433",
    "0x7f.1",
    "0x7f000001",
    "0177.0.0.1",
    "017700000001",
    "localhost",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[0:0:0:0:0:ffff:127.0.0.1]",
    "0.0.0.0",
    "0",
    "[::]",
    "169.254.169.254",
    "[fe80::1]",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "100.64.0.1",
    "[fd00::1]",
    "[fc00::1]",
    "224.0.0.1",
    "[ff02::1]",
    "255.255.255.255",
    "240.0.0.1",
    "198.18.0.1",
    "192.0.0.8",
    "[64:ff9b::7f00:1]",
    "[64:ff9b::a00:1]",
    "[2002:7f00:1::1]",
    "[2002:a9fe:a9fe::1]",
    "[::ffff:169.254.169.254]",
    "[::ffff:10.0.0.1]",
    "[fec0::1]",
    "[fe80::1%25lo]",
    "localhost.",
    "LOCALHOST",
]


class _Counter(BaseHTTPRequestHandler):
    hits: list[tuple[str, dict[str, str], bytes]]
    status = 204
    location = ""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.hits.append((self.path, dict(self.headers), body))
        self.send_response(self.status)
        if self.location:
            self.send_header("Location", self.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST  # noqa: N815 - a followed redirect would arrive as GET

    def log_message(self, *args: Any) -> None:
        return None


def _serve(status: int = 204, location: str = "") -> tuple[HTTPServer, list[Any]]:
    hits: list[Any] = []
    handler = type("Handler", (_Counter,), {"hits": hits, "status": status, "location": location})
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, hits


@pytest.fixture
def receiver() -> Iterator[tuple[HTTPServer, list[Any]]]:
    server, hits = _serve()
    yield server, hits
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_non_public_hosts_are_refused_before_connecting(host: str) -> None:
    with pytest.raises(UnsafeDestinationError) as err:
        resolve_destination(f"http://{host}/hook", STRICT)
    assert "refused" in str(err.value) or "resolve" in str(err.value)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://127.0.0.1/x",
        "gopher://127.0.0.1:70/_x",
        "dict://h:11211/",
        "ldap://example.com/",
        "jar:http://example.com!/",
        "//example.com/hook",
        "example.com/hook",
        "http://user:pw@example.com/hook",
        "http:///hook",
        "HTTP://[::1",
        "data:text/plain,x",
    ],
)
def test_other_schemes_and_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeDestinationError):
        resolve_destination(url, DestinationPolicy(allow_private=True))


def test_loopback_receiver_is_reached_only_when_allowed(receiver: Any) -> None:
    server, hits = receiver
    url = f"http://127.0.0.1:{server.server_port}/hook?x=1"
    with pytest.raises(UnsafeDestinationError, match="loopback"):
        post_json(url, b"{}", headers={}, policy=STRICT)
    assert hits == []
    assert post_json(url, b'{"a": 1}', headers={"X-T": "1"}, policy=LOOPBACK_ONLY) == 204
    assert hits[0][0] == "/hook?x=1" and hits[0][2] == b'{"a": 1}'
    allow_all = DestinationPolicy(allow_private=True)
    assert post_json(url, b"{}", headers={}, policy=allow_all) == 204
    # An allow list names networks: the loopback /32 does not open the rest of 127/8.
    with pytest.raises(UnsafeDestinationError):
        resolve_destination("http://127.0.0.2/", LOOPBACK_ONLY)


def test_a_redirect_to_another_loopback_port_is_not_followed(receiver: Any) -> None:
    target, target_hits = receiver
    redirector, redirect_hits = _serve(
        302, location=f"http://127.0.0.1:{target.server_port}/internal"
    )
    try:
        for status in (301, 302, 303, 307, 308):
            redirector.RequestHandlerClass.status = status  # type: ignore[attr-defined]
            got = post_json(
                f"http://127.0.0.1:{redirector.server_port}/hook",
                b"{}",
                headers={},
                policy=LOOPBACK_ONLY,
            )
            assert got == status
    finally:
        redirector.shutdown()
        redirector.server_close()
    assert len(redirect_hits) == 5 and target_hits == []


def test_dns_is_resolved_once_and_the_checked_address_is_the_one_connected(receiver: Any) -> None:
    server, hits = receiver
    calls: list[str] = []

    def rebinding(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        # First answer: the allowed receiver; any later answer would be metadata service.
        calls.append(host)
        address = "127.0.0.1" if len(calls) == 1 else "169.254.169.254"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    status = post_json(
        f"http://alerts.example.test:{server.server_port}/h",
        b"{}",
        headers={},
        policy=LOOPBACK_ONLY,
        resolver=rebinding,
    )
    assert status == 204 and calls == ["alerts.example.test"]
    # The Host header names the URL's host, not the address connected to.
    assert hits[0][1]["Host"] == f"alerts.example.test:{server.server_port}"


def test_a_name_with_one_private_answer_among_public_ones_is_refused() -> None:
    def mixed(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", port)),
        ]

    with pytest.raises(UnsafeDestinationError, match="10.1.2.3"):
        resolve_destination("https://hooks.example.test/", STRICT, resolver=mixed)


def test_a_hostname_resolving_to_loopback_is_refused() -> None:
    def local(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0))]

    for url in ("http://localhost/", "https://internal.example.test/"):
        with pytest.raises(UnsafeDestinationError, match="loopback"):
            resolve_destination(
                url, STRICT, resolver=local if "example" in url else socket.getaddrinfo
            )


def test_alert_delivery_records_the_refusal_and_never_connects(
    tmp_path: Path, receiver: Any
) -> None:
    server, hits = receiver
    for url in (
        f"http://127.0.0.1:{server.server_port}/hook",
        f"http://2130706433:{server.server_port}/hook",
        f"http://[::ffff:127.0.0.1]:{server.server_port}/hook",
        f"http://localhost:{server.server_port}/hook",
        "file:///etc/passwd",
    ):
        ws = Workspace.open(
            make_settings(tmp_path / "home", alert_webhook_url=url, alert_webhook_secret="s")
        )
        try:
            delivered = _deliver(ws, url, "s", json.dumps({"x": 1}).encode())
        finally:
            ws.close()
        assert delivered.startswith("refused:"), (url, delivered)
    assert hits == []
    ws = Workspace.open(
        make_settings(tmp_path / "home2", alert_webhook_allow_networks="127.0.0.0/8")
    )
    try:
        assert ws.settings.alert_webhook_allow_networks == ["127.0.0.0/8"]
        assert _deliver(ws, f"http://127.0.0.1:{server.server_port}/hook", "s", b"{}") == "HTTP 204"
    finally:
        ws.close()
    assert len(hits) == 1


def test_a_malformed_allow_list_entry_is_an_error_naming_it() -> None:
    with pytest.raises(UnsafeDestinationError, match="not-a-net"):
        DestinationPolicy.from_strings(allow_networks=["127.0.0.1/32", "not-a-net"])


def _self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A throwaway certificate for ``name`` and its key, as PEM files."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_https_pins_the_address_but_checks_the_certificate_against_the_name(tmp_path: Path) -> None:
    import ssl

    name = "alerts.example.test"
    cert_file, key_file = _self_signed(tmp_path, name)
    server, hits = _serve()
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_file, key_file)
    seen_sni: list[str | None] = []
    server_tls.sni_callback = lambda sock, sni, ctx: seen_sni.append(sni)  # type: ignore[assignment,func-returns-value]
    server.socket = server_tls.wrap_socket(server.socket, server_side=True)
    client_tls = ssl.create_default_context(cafile=str(cert_file))

    def to_loopback(host: str, port: int, **_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    try:
        status = post_json(
            f"https://{name}:{server.server_port}/hook",
            b"{}",
            headers={},
            policy=LOOPBACK_ONLY,
            resolver=to_loopback,
            tls_context=client_tls,
        )
        assert status == 204 and seen_sni == [name]
        assert hits[0][1]["Host"] == f"{name}:{server.server_port}"
        # The same address under another name fails the certificate check: the name is
        # what TLS verifies, whatever address was connected to.
        with pytest.raises(ssl.SSLCertVerificationError):
            post_json(
                f"https://other.example.test:{server.server_port}/hook",
                b"{}",
                headers={},
                policy=LOOPBACK_ONLY,
                resolver=to_loopback,
                tls_context=client_tls,
            )
    finally:
        server.shutdown()
        server.server_close()
    assert len(hits) == 1


def test_proxy_variables_cannot_redirect_the_call(
    receiver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, hits = receiver
    proxy, proxy_hits = _serve()
    try:
        for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "ALL_PROXY"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.server_port}")
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        assert (
            post_json(
                f"http://127.0.0.1:{server.server_port}/hook",
                b"{}",
                headers={},
                policy=LOOPBACK_ONLY,
            )
            == 204
        )
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert len(hits) == 1 and proxy_hits == []
