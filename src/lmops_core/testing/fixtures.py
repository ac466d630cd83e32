"""The fixtures of the ``lmops_core.testing`` pytest plugin (documented in docs/plugins.md)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lmops_core.offline import set_offline_defaults
from lmops_core.plugins import PluginHost
from lmops_core.testing.helpers import (
    Governed,
    RecordingProgress,
    StageContexts,
    TinyModels,
    plugin_host,
)


def pytest_configure(config: pytest.Config) -> None:
    """Offline switches first, before a test module imports an ML library (as the core does
    before it loads plugins)."""
    set_offline_defaults()


@pytest.fixture(scope="session")
def lmops_plugins(tmp_path_factory: pytest.TempPathFactory) -> PluginHost:
    """Every installed plugin (entry points) and the built-ins, loaded once per session."""
    return plugin_host(entry_points=True, home=tmp_path_factory.mktemp("lmops-plugins"))


@pytest.fixture
def load_plugin(tmp_path: Path) -> Callable[..., PluginHost]:
    """``load_plugin(*modules, entry_points=False)``: a fresh host with these plugin modules."""

    def load(*modules: str, entry_points: bool = False) -> PluginHost:
        return plugin_host(*modules, entry_points=entry_points, home=tmp_path / "plugins-home")

    return load


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty database on the test PostgreSQL server (``LMOPS_TEST_PG_URL``), dropped
    afterwards: for a plugin whose own storage lives in the registry's database."""
    from lmops_core.testing.postgres import fresh_postgres_database

    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory, lmops_plugins: PluginHost) -> TinyModels:
    """``tiny_models(kind)``: a tiny model folder of ``kind``, built once per session by the
    installed runtime that opens the kind; ``tiny_models.kinds()`` lists what can be built."""
    return TinyModels(tmp_path_factory.mktemp("tiny-models"), lmops_plugins)


@pytest.fixture(scope="session")
def tiny_model(tiny_models: TinyModels) -> Path:
    """A tiny model of kind ``base`` (Hugging Face layout, random weights, trained tokenizer)."""
    return tiny_models("base")


@pytest.fixture
def stage_context(tmp_path: Path, lmops_plugins: PluginHost) -> StageContexts:
    """``stage_context(operation, inputs, params, stage=None, seed=0, progress=None)``: a real
    StageContext in a fresh working folder, parameters checked as the runner checks them."""
    return StageContexts(tmp_path / "stage-work", lmops_plugins)


@pytest.fixture
def make_workspace(tmp_path: Path) -> Iterator[Callable[..., Governed]]:
    """``make_workspace(plugins=(), entry_points=True, policies=None)``: a governed store
    under ``tmp_path`` (an admin bootstrapped; ``.as_user(user, *roles)`` acts with a real
    token), closed after the test."""
    opened: list[Governed] = []

    def make(**options: Any) -> Governed:
        governed = Governed.open(tmp_path / f"home{len(opened) or ''}", **options)
        opened.append(governed)
        return governed

    yield make
    for governed in opened:
        governed.close()


@pytest.fixture
def workspace(make_workspace: Callable[..., Governed]) -> Governed:
    """A governed store with every installed plugin loaded (see :func:`make_workspace`)."""
    return make_workspace()


@pytest.fixture
def recording_progress() -> RecordingProgress:
    """A progress reporter that records every call."""
    return RecordingProgress()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Refuse and record every outbound connection or DNS lookup; fail the test if any.

    Loopback and local (AF_UNIX) sockets stay allowed. Recording matters: some
    libraries swallow a failed download and fall back, so a refusal alone
    could go unnoticed.
    """
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def local(sock: socket.socket, address: Any) -> bool:
        if sock.family == socket.AF_UNIX:
            return True
        host = address[0] if isinstance(address, tuple) else address
        return isinstance(host, str) and (host.startswith("127.") or host in ("::1", "localhost"))

    def refuse_connect(sock: socket.socket, address: Any) -> None:
        if not local(sock, address):
            attempts.append(address)
            raise OSError(f"network access attempted in a test: {address!r}")
        real_connect(sock, address)

    def refuse_connect_ex(sock: socket.socket, address: Any) -> int:
        if not local(sock, address):
            attempts.append(address)
            raise OSError(f"network access attempted in a test: {address!r}")
        return real_connect_ex(sock, address)

    def refuse_lookup(host: object, *args: object, **kwargs: object) -> list[Any]:
        attempts.append(host)
        raise OSError(f"DNS lookup attempted in a test: {host!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", refuse_lookup)
    yield attempts
    assert attempts == [], f"network was attempted: {attempts}"
