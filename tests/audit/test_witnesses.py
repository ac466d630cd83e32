"""Webhook and syslog witnesses receive every genesis and checkpoint; a dead one is alerted."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from lmops_core.audit.checkpoints import Checkpoint, read_checkpoint_file
from lmops_core.audit.witnesses import SyslogSink, WebhookSink, audit_witnesses
from lmops_core.errors import ConfigurationError
from lmops_core.outbound import DestinationPolicy
from lmops_core.workspace import Workspace
from tests.conftest import make_settings, write_jsonl


class _Witness(BaseHTTPRequestHandler):
    kept: list[tuple[str, dict[str, Any]]] = []
    status = 201

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Witness.kept.append((self.headers["X-Lmops-Audit"], json.loads(body)))
        self.send_response(_Witness.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def witness() -> Iterator[str]:
    _Witness.kept, _Witness.status = [], 201
    server = HTTPServer(("127.0.0.1", 0), _Witness)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/witness"
    server.shutdown()


@pytest.fixture
def syslog() -> Iterator[tuple[str, socket.socket]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(30)
    yield f"udp://127.0.0.1:{sock.getsockname()[1]}", sock
    sock.close()


def _open(tmp_path: Path, db_url: str, **extra: Any) -> Workspace:
    return Workspace.open(make_settings(tmp_path / "home", db_url, **extra))


def _witnessed(tmp_path: Path, db_url: str, witness: str, **extra: Any) -> Workspace:
    """A store that sends its genesis and a checkpoint after every write to ``witness``
    (a loopback address, allowed explicitly)."""
    return _open(
        tmp_path,
        db_url,
        audit_checkpoint_webhook=witness,
        alert_webhook_allow_private=True,
        audit_checkpoint_every=1,
        **extra,
    )


def test_witnesses_receive_genesis_and_every_checkpoint(
    tmp_path: Path, db_url: str, witness: str, syslog: tuple[str, socket.socket]
) -> None:
    address, sock = syslog
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "hello"}])
    with _witnessed(tmp_path, db_url, witness, audit_checkpoint_syslog=address) as ws:
        ws.as_actor("alice").register_dataset("d", data, shape="text")
        kinds = [kind for kind, _ in _Witness.kept]
        assert kinds[0] == "genesis" and "checkpoint" in kinds[1:]
        assert _Witness.kept[0][1]["store_id"] == ws.latest_audit_checkpoint()["store_id"]  # type: ignore[index]
        newest = _Witness.kept[-1][1]
        lines = []
        while True:  # one datagram per genesis or checkpoint sent
            lines.append(sock.recv(65536).decode())
            if len(lines) == len(_Witness.kept):
                break
        assert all(line.startswith("<37>lmops-audit: ") for line in lines)
        assert json.loads(lines[-1].split(" ", 2)[2]) == newest
        # What a witness kept is a checkpoint an auditor can hand to verify.
        kept = tmp_path / "kept.json"
        kept.write_text(json.dumps(newest))
        checkpoint = read_checkpoint_file(kept)
        assert isinstance(checkpoint, Checkpoint)
        result = ws.verify_audit(checkpoint=kept)
        assert result.ok, str(result)
        assert str(kept) in result.checkpoint


def test_a_dead_witness_is_alerted_and_never_blocks_a_write(
    tmp_path: Path, db_url: str, witness: str
) -> None:
    _Witness.status = 500
    data = write_jsonl(tmp_path / "d.jsonl", [{"text": "hello"}])
    with _witnessed(tmp_path, db_url, witness) as ws:
        ws.as_actor("alice").register_dataset("d", data, shape="text")
        assert ws.verify_audit().ok
    alerts = [
        json.loads(line) for line in (tmp_path / "home" / "alerts.jsonl").read_text().splitlines()
    ]
    failed = [a for a in alerts if a["event"] == "audit.sink_failed"]
    assert failed and "HTTP 500" in failed[0]["reason"]


def test_a_witness_on_a_private_address_needs_permission(
    tmp_path: Path, db_url: str, witness: str
) -> None:
    with _open(tmp_path, db_url, audit_checkpoint_webhook=witness) as ws:
        ws.as_actor("alice").register_dataset(
            "d", write_jsonl(tmp_path / "d.jsonl", [{"text": "x"}]), shape="text"
        )
    assert _Witness.kept == []  # the outbound guard refused the loopback witness
    reasons = (tmp_path / "home" / "alerts.jsonl").read_text()
    assert "audit.sink_failed" in reasons and "loopback" in reasons


@pytest.mark.parametrize("address", ["syslog.example:514", "udp://host", "ftp://h:1", "udp://:9"])
def test_bad_syslog_addresses_are_refused_by_name(address: str) -> None:
    with pytest.raises(ConfigurationError, match="expected udp://HOST:PORT"):
        SyslogSink(address)


def test_webhook_must_be_http() -> None:
    with pytest.raises(ConfigurationError, match="http\\(s\\) URL"):
        WebhookSink("file:///etc/passwd", DestinationPolicy())


def test_no_witness_by_default(tmp_path: Path) -> None:
    assert audit_witnesses(make_settings(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")) == []
