"""The risk officer's review console: server-rendered pages of the admin API.

Sign in once with an API token; the pages then use a session cookie. Every
page reads through the workspace facade acting as the signed-in user, and a
decision is the same governance call the JSON API and the CLI make. The
templates and the stylesheet ship in this package: no CDN, no build step, no
script.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from lmops_core.api.cache import GenerationCache
from lmops_core.api.console import review_pages
from lmops_core.api.console.pages import root, router
from lmops_core.api.console.render import PREFIX
from lmops_core.api.security import PUBLIC, AccessRegistry
from lmops_core.api.sessions import SessionStore

STATIC_PATH = f"{PREFIX}/static"


def mount_console(app: FastAPI, registry: AccessRegistry, *, session_minutes: int) -> None:
    """Add the console's pages, its stylesheet (public) and its session store to ``app``.

    Sessions live in the store the app serves (``app.state.workspace``), so every
    server process shares them.
    """
    app.state.console_sessions = SessionStore(
        lambda: app.state.workspace.get().db, timedelta(minutes=session_minutes)
    )
    # Rendered pages, per store generation, user and minute (console.pages.cached_page).
    app.state.console_pages = GenerationCache[str](max_entries=512)
    # The pending queue, and each reader's share of it, per store generation (pages.inbox).
    app.state.console_queues = GenerationCache[Any](max_entries=64)
    app.include_router(root)
    app.include_router(router)
    app.include_router(review_pages.router)
    app.mount(
        STATIC_PATH,
        StaticFiles(directory=Path(__file__).with_name("static")),
        name="console-static",
    )
    registry.add_raw(STATIC_PATH, PUBLIC)


__all__ = ["PREFIX", "STATIC_PATH", "mount_console"]
