"""Outbound HTTP calls lmops makes on its own (alert webhooks), kept off internal services.

A URL from settings is attacker-controlled as far as this module is concerned
(anyone who can set ``LMOPS_ALERT_WEBHOOK_URL`` or sneak it into a deployment's
environment). :func:`post_json` therefore:

* accepts ``http`` and ``https`` URLs only, without user info;
* resolves the host name once, refuses it when *any* address it resolves to is
  loopback, link-local (cloud metadata at 169.254.169.254), private (RFC 1918,
  ULA ``fc00::/7``), shared (CGNAT ``100.64.0.0/10``), multicast, unspecified or
  otherwise not globally routable, looking through IPv4-mapped, 6to4 and NAT64
  forms (``::ffff:127.0.0.1``), unless a :class:`DestinationPolicy` allows it;
* connects to that very address (a second DNS answer cannot switch it: no
  rebinding), while the ``Host`` header, TLS SNI and certificate check use the
  name from the URL;
* never follows a redirect (a 3xx is reported, not followed) and ignores the
  ``*_proxy`` environment variables.

Numeric host spellings (``2130706433``, ``0x7f.1``, ``127.1``) are refused by the
same rule, since they are judged by the address the resolver makes of them.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from lmops_core.errors import UnsafeDestinationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[..., Sequence[tuple[Any, ...]]]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
# Special-purpose blocks Python's is_global judges differently across versions.
_SPECIAL = (
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("198.18.0.0/15"),
    ipaddress.ip_network("2001::/23"),
    ipaddress.ip_network("100::/64"),
)
#: Bytes of a response read at most: only the status matters.
_MAX_RESPONSE = 64 * 1024


@dataclass(frozen=True)
class DestinationPolicy:
    """Which non-public addresses an outbound call may reach.

    ``allow_private`` lets loopback, link-local, private, shared and reserved
    addresses through; ``allow_networks`` lets only the networks listed
    (e.g. ``127.0.0.1/32`` for a test receiver). Unspecified (``0.0.0.0``, ``::``)
    and multicast addresses are never reachable.
    """

    allow_private: bool = False
    allow_networks: tuple[Network, ...] = ()

    @classmethod
    def from_strings(
        cls, *, allow_private: bool = False, allow_networks: Iterable[str] = ()
    ) -> DestinationPolicy:
        """Build a policy from setting values; a malformed network is an error naming it."""
        networks = []
        for text in allow_networks:
            try:
                networks.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError as exc:
                raise UnsafeDestinationError(
                    f"not a network (CIDR) in the allow list: {text!r}", field="allow_networks"
                ) from exc
        return cls(allow_private=allow_private, allow_networks=tuple(networks))

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be reached, or None when it may."""
        address = _unmapped(address)
        if address.is_unspecified:
            return "an unspecified address"
        if address.is_multicast:
            return "a multicast address"
        if any(address.version == n.version and address in n for n in self.allow_networks):
            return None
        reason = _non_public(address)
        if reason is None or self.allow_private:
            return None
        return reason


def _unmapped(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address as the IPv4 address it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _embedded_v4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _non_public(address: IPAddress) -> str | None:
    """What kind of non-public address this is, or None for a public one."""
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "a shared (CGNAT) address"
    if address.is_private:
        return "a private address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_v4(address)
        if embedded is not None:
            inner = _non_public(embedded) or (
                "a multicast address" if embedded.is_multicast else None
            )
            if inner is not None:
                return f"{inner} embedded in an IPv6 address"
        if address.is_site_local:
            return "a site-local address"
    if any(address.version == n.version and address in n for n in _SPECIAL):
        return "a special-purpose, non-public address"
    if not address.is_global or address.is_reserved:
        return "a reserved, non-public address"
    return None


@dataclass(frozen=True)
class Destination:
    """A checked URL: where to connect (``address``) and what to call it (``host``)."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def resolve_destination(
    url: str, policy: DestinationPolicy, *, resolver: Resolver = socket.getaddrinfo
) -> Destination:
    """Check ``url`` and resolve its host once; ``UnsafeDestinationError`` says why not."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeDestinationError(f"malformed URL: {exc}", field="url") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeDestinationError(
            f"only http and https URLs are allowed, not {scheme or 'a URL without scheme'!r}",
            field="url",
        )
    if parts.username is not None or parts.password is not None:
        raise UnsafeDestinationError(
            "URLs with user info (user:password@) are not allowed: "
            "the webhook is authenticated by its signature",
            field="url",
        )
    host = parts.hostname
    if not host:
        raise UnsafeDestinationError("the URL names no host", field="url")
    port = port or (443 if scheme == "https" else 80)
    try:
        answers = resolver(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeDestinationError(f"cannot resolve host {host!r}: {exc}", field="url") from exc
    addresses: list[IPAddress] = []
    for answer in answers:
        try:
            addresses.append(ipaddress.ip_address(str(answer[4][0]).split("%", 1)[0]))
        except ValueError:
            continue
    if not addresses:
        raise UnsafeDestinationError(f"host {host!r} resolves to no IP address", field="url")
    for address in addresses:
        reason = policy.refusal(address)
        if reason is not None:
            raise UnsafeDestinationError(
                f"host {host!r} resolves to {address}, {reason}: outbound calls to it are "
                "refused (allow it with LMOPS_ALERT_WEBHOOK_ALLOW_NETWORKS or "
                "LMOPS_ALERT_WEBHOOK_ALLOW_PRIVATE=true)",
                field="url",
                address=str(address),
            )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Destination(
        scheme=scheme, host=host, port=port, path=path, address=str(_unmapped(addresses[0]))
    )


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Talks to ``address`` while naming ``host`` in the Host header."""

    def __init__(self, destination: Destination, timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._address = destination.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to ``address``, with SNI and certificate checked against ``host``."""

    def __init__(self, destination: Destination, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout, context=context)
        self._address = destination.address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


def post_json(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str],
    policy: DestinationPolicy,
    timeout: float = 10.0,
    resolver: Resolver = socket.getaddrinfo,
    tls_context: ssl.SSLContext | None = None,
) -> int:
    """POST ``body`` to ``url`` under ``policy``; the HTTP status (a 3xx is not followed).

    Raises ``UnsafeDestinationError`` when the URL may not be called, ``OSError``
    (``http.client`` errors included) when the call fails.
    """
    destination = resolve_destination(url, policy, resolver=resolver)
    conn: http.client.HTTPConnection
    if destination.scheme == "https":
        conn = _PinnedHTTPSConnection(
            destination, timeout, tls_context or ssl.create_default_context()
        )
    else:
        conn = _PinnedHTTPConnection(destination, timeout)
    try:
        conn.request(
            "POST",
            destination.path,
            body=body,
            headers={**headers, "Content-Length": str(len(body))},
        )
        response = conn.getresponse()
        response.read(_MAX_RESPONSE)
        return response.status
    except http.client.HTTPException as exc:
        raise OSError(f"HTTP error from {destination.host}: {exc}") from exc
    finally:
        conn.close()


__all__ = ["Destination", "DestinationPolicy", "post_json", "resolve_destination"]
