"""Build the admin API (``create_app``) and run it (``serve``)."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from lmops_core.api.body_limit import BodyLimitMiddleware
from lmops_core.api.cache import GenerationCache
from lmops_core.api.config import ApiSettings
from lmops_core.api.console import mount_console
from lmops_core.api.docs_assets import mount_docs
from lmops_core.api.errors import install_error_handlers, send_error
from lmops_core.api.routes import (
    audit,
    health,
    inventory,
    policy,
    report,
    requests,
    retraining,
    reviews,
)
from lmops_core.api.security import PUBLIC, AccessRegistry, DefaultDenyMiddleware
from lmops_core.governance.schemas import Principal
from lmops_core.settings import Settings
from lmops_core.workspace import Workspace

OPENAPI_PATH = "/openapi.json"


class WorkspaceHolder:
    """Opens the workspace once, on first use, unless one was handed in."""

    def __init__(self, workspace: Workspace | None, settings: Settings | None) -> None:
        self._ws = workspace
        self._settings = settings
        self._lock = threading.Lock()
        self.owned = False

    def get(self) -> Workspace:
        """The workspace, opening it on the first call (thread-safe)."""
        if self._ws is None:
            with self._lock:
                if self._ws is None:
                    self._ws = Workspace.open(self._settings)
                    self.owned = True
        return self._ws

    def close(self) -> None:
        """Close the workspace if this holder opened it."""
        if self.owned and self._ws is not None:
            self._ws.close()
            self._ws, self.owned = None, False


#: The console's forms are URL-encoded; every other body is JSON.
_FORM_PATHS = ("/console/",)
_FORM_MEDIA = "application/x-www-form-urlencoded"


class JsonOnlyMiddleware:
    """Refuses (415) a request carrying a body whose Content-Type is not application/json
    (console forms under ``/console/`` may be URL-encoded instead)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = Headers(scope=scope)
            length = headers.get("content-length")
            has_body = (length is not None and length.strip() != "0") or (
                "transfer-encoding" in headers
            )
            media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            form = media == _FORM_MEDIA and str(scope["path"]).startswith(_FORM_PATHS)
            if has_body and media != "application/json" and not form:
                await send_error(
                    send,
                    415,
                    "unsupported_media_type",
                    f"request bodies must be application/json, not {media or 'untyped'}",
                )
                return
        await self.app(scope, receive, send)


def create_app(
    workspace: Workspace | None = None,
    *,
    settings: Settings | None = None,
    api_settings: ApiSettings | None = None,
) -> FastAPI:
    """The admin API over ``workspace`` (or the store ``settings`` names, opened lazily)."""
    holder = WorkspaceHolder(workspace, settings)
    api_settings = api_settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        holder.close()

    app = FastAPI(
        title="lmops admin API",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_PATH,
        lifespan=lifespan,
        description="Promotion requests, approvals, inventory and audit of an "
        "lmops store. Every route but /health and the docs needs a "
        "bearer API token.",
    )
    app.state.workspace = holder
    # Principals keyed on the access generation, answers on the store's
    # (lmops_core.api.cache).
    app.state.principals = GenerationCache[Principal]()
    app.state.answers = GenerationCache[bytes]()
    app.state.decisions_at_once = api_settings.decisions_at_once
    registry = AccessRegistry()
    app.state.access = registry
    registry.add_raw(OPENAPI_PATH, PUBLIC)
    # Routes are matched in order and no two of these routers share a path, so the order
    # only sets what a request is matched against first: the busiest JSON routes (the
    # requests), then the console's pages, which otherwise were tried after every other
    # route of the API (see docs/admin-api.md, "Console pages: CPU per page").
    for module in (health, requests, report):
        app.include_router(module.router)
    mount_console(app, registry, session_minutes=api_settings.console_session_minutes)
    for module in (inventory, audit, policy, retraining, reviews):
        app.include_router(module.router)
    mount_docs(app, registry)
    install_error_handlers(app)
    missing = registry.unguarded(app.routes)
    if missing:  # fail at build time too, not only when the route is called
        raise RuntimeError(f"routes without an access rule: {', '.join(missing)}")
    # Added innermost first: the body cap runs first (before anything reads a body or
    # checks a token), then the Host check, then the media type, then the guard.
    app.add_middleware(DefaultDenyMiddleware, router=app.router, registry=registry)
    app.add_middleware(JsonOnlyMiddleware)
    app.add_middleware(
        TrustedHostMiddleware, allowed_hosts=api_settings.host_patterns(), www_redirect=False
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=api_settings.max_body_bytes)
    return app


def prepare_for_serving(app: FastAPI) -> None:
    """Open the app's store and settle the process before a server takes traffic.

    A store that cannot be opened fails the start instead of the first request.
    Everything loaded by then lives as long as the server; freezing it out of the
    garbage collector's generations keeps full collections, which pause every
    request in flight, short.
    """
    app.state.workspace.get()
    gc.collect()
    gc.freeze()


def worker_app() -> FastAPI:
    """The app one ``lmops serve`` worker process runs (uvicorn's ``factory``).

    Everything comes from the environment (``LMOPS_*`` and ``LMOPS_API_*``), which
    each worker process inherits; console sessions live in the store, so the
    workers share them.
    """
    app = create_app()
    prepare_for_serving(app)
    return app


#: The import string uvicorn starts each worker process from.
WORKER_APP = f"{__name__}:{worker_app.__name__}"


def serve(
    host: str = "127.0.0.1",
    port: int = 8650,
    *,
    settings: Settings | None = None,
    workspace: Workspace | None = None,
    workers: int = 1,
    log_level: str = "info",
    access_log: bool = True,
    timeout_keep_alive: int = 5,
) -> None:
    """Run the admin API with uvicorn; binds loopback unless told otherwise.

    With ``workers`` above 1, that many processes serve the port, each building
    :func:`worker_app` from the environment (so ``settings`` and ``workspace``,
    which cannot cross into them, must be left out); on Linux each has a socket of
    its own, so kept-alive connections are spread evenly over them
    (:mod:`lmops_core.api.workers`). ``log_level``, ``access_log`` and
    ``timeout_keep_alive`` (seconds an idle keep-alive connection stays open) are
    uvicorn's.
    """
    import uvicorn

    from lmops_core.api.workers import serve_processes

    options = {
        "proxy_headers": False,
        "server_header": False,
        "log_level": log_level,
        "access_log": access_log,
        "timeout_keep_alive": timeout_keep_alive,
    }
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    if workers > 1:
        if settings is not None or workspace is not None:
            raise ValueError(
                "with more than one worker each process reads its settings from the "
                "environment; do not pass settings or a workspace"
            )
        serve_processes(WORKER_APP, workers=workers, host=host, port=port, **options)
        return
    app = create_app(workspace, settings=settings)
    prepare_for_serving(app)
    uvicorn.run(app, host=host, port=port, **options)  # type: ignore[arg-type]


__all__ = [
    "WORKER_APP",
    "JsonOnlyMiddleware",
    "WorkspaceHolder",
    "create_app",
    "prepare_for_serving",
    "serve",
    "worker_app",
]
