"""Building the app: the store opens lazily and once; serving binds loopback by default."""

from __future__ import annotations

import gc
import inspect
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lmops_core.api import create_app, serve
from lmops_core.api.app import prepare_for_serving
from lmops_core.api.config import ApiSettings
from lmops_core.workspace import Workspace
from tests.conftest import make_settings


def test_store_opens_lazily_once_and_closes_with_the_app(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", policies_dir=tmp_path / "none")
    with Workspace.open(settings) as ws:
        token = ws.governance.bootstrap_admin("boss")
    app = create_app(settings=settings, api_settings=ApiSettings(allowed_hosts=["testserver"]))
    holder = app.state.workspace
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        assert holder.owned is False  # nothing needed the store yet
        headers = {"Authorization": f"Bearer {token}"}
        assert c.get("/api/v1/requests", headers=headers).json()["total"] == 0
        first = holder.get()
        assert holder.owned is True
        assert c.get("/api/v1/inventory", headers=headers).status_code == 200
        assert holder.get() is first
    assert holder.owned is False  # closed at shutdown


def test_handed_in_workspace_is_not_closed(sqlite_env: object) -> None:
    ws = sqlite_env.ws  # type: ignore[attr-defined]
    app = create_app(ws, api_settings=ApiSettings(allowed_hosts=["testserver"]))
    with TestClient(app) as c:
        c.get("/health")
    assert app.state.workspace.get() is ws
    assert ws.list_assets("model") == []  # still usable


def test_serve_binds_loopback_by_default() -> None:
    params = inspect.signature(serve).parameters
    assert params["host"].default == "127.0.0.1"
    assert params["port"].default == 8650


def test_serve_runs_on_uvloop_and_httptools() -> None:
    # serve leaves uvicorn's loop and http at "auto", which picks these two when they are
    # importable; lmops-core declares both, so an install of it alone gets them.
    import uvloop
    from uvicorn.loops.auto import auto_loop_factory
    from uvicorn.protocols.http.auto import AutoHTTPProtocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    assert AutoHTTPProtocol is HttpToolsProtocol
    loop = auto_loop_factory()()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_prepare_for_serving_opens_the_store_and_freezes_startup_objects(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", policies_dir=tmp_path / "none")
    app = create_app(settings=settings, api_settings=ApiSettings(allowed_hosts=["testserver"]))
    try:
        prepare_for_serving(app)
        assert app.state.workspace.owned is True  # opened before any request
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        app.state.workspace.close()


def test_prepare_for_serving_fails_on_a_store_it_cannot_open(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    settings = make_settings(blocker / "home", policies_dir=tmp_path / "none")
    app = create_app(settings=settings, api_settings=ApiSettings(allowed_hosts=["testserver"]))
    with pytest.raises(OSError, match="not-a-folder"):
        prepare_for_serving(app)
