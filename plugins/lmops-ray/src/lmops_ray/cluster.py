"""Connecting to the Ray cluster a step runs on, failing fast and clearly when it is away."""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlsplit

from lmops_core.errors import PluginError
from lmops_ray.mapper import RayMapper
from lmops_ray.settings import RaySettings

#: The port of a cluster's head when an address names only the host (Ray's default GCS port).
DEFAULT_GCS_PORT = 6379
#: Addresses that start (or find) a cluster on this machine rather than name one.
LOCAL_ADDRESSES = ("local", "auto")


def head_endpoint(address: str) -> tuple[str, int]:
    """The host and port ``address`` (``host:port`` or ``ray://host:port``) points at."""
    parsed = urlsplit(address if "://" in address else f"gcs://{address}")
    try:
        port = parsed.port
    except ValueError:
        port = None
    if not parsed.hostname or (port is None and parsed.netloc.count(":")):
        raise PluginError(
            f'LMOPS_RAY_ADDRESS "{address}" is not host:port or ray://host:port', engine="ray"
        )
    return parsed.hostname, port or DEFAULT_GCS_PORT


def check_reachable(address: str, timeout_s: float) -> None:
    """A :class:`PluginError` naming ``address`` unless its head accepts a connection in time."""
    host, port = head_endpoint(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise PluginError(
            f'the Ray cluster at "{address}" (LMOPS_RAY_ADDRESS) cannot be reached: {reason} '
            f"at {host}:{port} within {timeout_s:g} s; start it (ray start --head) or unset "
            "LMOPS_RAY_ADDRESS to run the step locally",
            engine="ray",
            address=address,
        ) from None


def connect(settings: RaySettings) -> RayMapper:
    """A mapper on the configured cluster (this process's existing Ray connection, if any).

    An explicit address is checked first with a plain TCP connection, so an
    unreachable cluster is reported in ``connect_timeout_s``, not after Ray's
    own minute of retries. With no address, or ``local``, a cluster is started
    for this process with ``workers`` CPUs (the machine's, unset).
    """
    address = settings.address
    remote = address is not None and address not in LOCAL_ADDRESSES
    if remote:
        assert address is not None
        check_reachable(address, settings.connect_timeout_s)
    # Ray's usage statistics stay off: RAY_USAGE_STATS_ENABLED=0 is one of the core's offline
    # switches (lmops_core.offline), set before any plugin is imported.
    import ray

    if not ray.is_initialized():
        try:
            ray.init(
                address=address if remote else None,
                num_cpus=None if remote else settings.workers,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        except (ConnectionError, RuntimeError, TimeoutError) as exc:
            raise PluginError(
                f'could not join the Ray cluster at "{address or "local"}": {exc}',
                engine="ray",
                address=address,
            ) from exc
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    return RayMapper(workers=settings.workers or cpus, cpus=cpus, scratch=settings.scratch)
