"""Write-only checkpoint sinks: a webhook and syslog, for witnesses outside this host.

A witness keeps what it is sent; nothing here reads it back. An auditor who
later doubts the store hands a checkpoint the witness kept to
``lmops audit verify --checkpoint FILE``. Each genesis and checkpoint is sent
as its canonical JSON (already HMAC-signed under the audit key, so a witness
that cannot check the signature still keeps evidence someone else can).

- :class:`WebhookSink` POSTs it through the outbound guard of
  :mod:`lmops_core.outbound` (no loopback, link-local or private address unless
  settings allow it), with ``X-Lmops-Audit: genesis|checkpoint``. Any status
  outside 2xx is a failure.
- :class:`SyslogSink` sends one line ``lmops-audit: <json>`` with facility
  ``auth``, severity ``notice``, to a syslog daemon: ``udp://HOST:PORT``, ``tcp://HOST:PORT`` or
  the path of a local socket such as ``/dev/log``.

A failing witness never undoes a commit: :class:`~lmops_core.audit.ledger.AuditLedger`
logs the failure and writes an ``audit.sink_failed`` line to ``alerts.jsonl``.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lmops_core.audit.chain import canonical_json
from lmops_core.audit.checkpoints import Checkpoint, CheckpointSink, Genesis
from lmops_core.errors import ConfigurationError, UnsafeDestinationError
from lmops_core.outbound import DestinationPolicy, post_json

if TYPE_CHECKING:
    from lmops_core.settings import Settings


class WebhookSink:
    """Genesis and checkpoints POSTed as JSON to a witness URL."""

    def __init__(self, url: str, policy: DestinationPolicy, *, timeout: float = 10.0) -> None:
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise ConfigurationError(
                f"the audit checkpoint webhook must be an http(s) URL, not {url!r}",
                field="audit_checkpoint_webhook",
            )
        self.url = url
        self.policy = policy
        self.timeout = timeout
        self.name = f"checkpoint webhook {url}"

    def _post(self, kind: str, value: dict[str, Any]) -> None:
        body = canonical_json(value).encode()
        try:
            status = post_json(
                self.url,
                body,
                policy=self.policy,
                timeout=self.timeout,
                headers={"Content-Type": "application/json", "X-Lmops-Audit": kind},
            )
        except (UnsafeDestinationError, OSError) as exc:
            raise ConfigurationError(f"{self.name}: {exc}") from None
        if not 200 <= status < 300:
            raise ConfigurationError(f"{self.name}: answered HTTP {status}")

    def write_genesis(self, genesis: Genesis) -> None:
        self._post("genesis", genesis.to_json())

    def write(self, checkpoint: Checkpoint) -> None:
        self._post("checkpoint", checkpoint.to_json())

    def checkpoints(self, store_id: str) -> list[Checkpoint]:
        return []  # write-only: the witness keeps them


def _syslog_address(address: str) -> tuple[str | tuple[str, int], int]:
    """``(address, socket type)`` for SysLogHandler from ``udp://h:p``, ``tcp://h:p`` or a path."""
    if address.startswith("/"):
        return address, socket.SOCK_DGRAM
    parts = urlsplit(address)
    kinds = {"udp": socket.SOCK_DGRAM, "tcp": socket.SOCK_STREAM}
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in kinds or not parts.hostname or port is None:
        raise ConfigurationError(
            f"audit checkpoint syslog address {address!r}: expected udp://HOST:PORT, "
            "tcp://HOST:PORT or the path of a local socket such as /dev/log",
            field="audit_checkpoint_syslog",
        )
    return (parts.hostname, port), kinds[parts.scheme]


#: Facility auth (4) and severity notice (5): ``4 * 8 + 5``.
_PRIORITY = 37


class SyslogSink:
    """Genesis and checkpoints as ``lmops-audit: <json>`` lines to a syslog daemon."""

    def __init__(self, address: str) -> None:
        self.address, self.socktype = _syslog_address(address)
        self.name = f"checkpoint syslog {address}"

    def _send(self, kind: str, value: dict[str, Any]) -> None:
        data = f"<{_PRIORITY}>lmops-audit: {kind} {canonical_json(value)}".encode()
        try:
            if isinstance(self.address, str):
                with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                    sock.connect(self.address)
                    sock.send(data)
            elif self.socktype == socket.SOCK_STREAM:  # octet-counted framing (RFC 6587)
                with socket.create_connection(self.address, timeout=10) as sock:
                    sock.sendall(f"{len(data)} ".encode() + data)
            else:
                host, port = self.address
                info = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
                with socket.socket(info[0], socket.SOCK_DGRAM) as sock:
                    sock.sendto(data, info[4])
        except OSError as exc:
            raise ConfigurationError(f"{self.name}: {exc}") from None

    def write_genesis(self, genesis: Genesis) -> None:
        self._send("genesis", genesis.to_json())

    def write(self, checkpoint: Checkpoint) -> None:
        self._send("checkpoint", checkpoint.to_json())

    def checkpoints(self, store_id: str) -> list[Checkpoint]:
        return []  # write-only: the syslog daemon keeps them


def audit_witnesses(settings: Settings) -> list[CheckpointSink]:
    """The webhook and syslog witnesses the settings name (none by default)."""
    found: list[CheckpointSink] = []
    if settings.audit_checkpoint_webhook:
        found.append(
            WebhookSink(
                settings.audit_checkpoint_webhook,
                DestinationPolicy.from_strings(
                    allow_private=settings.alert_webhook_allow_private,
                    allow_networks=settings.alert_webhook_allow_networks,
                ),
            )
        )
    if settings.audit_checkpoint_syslog:
        found.append(SyslogSink(settings.audit_checkpoint_syslog))
    return found
