"""``/docs`` served offline: Swagger UI's JS and CSS come from the app, not a CDN.

The files ship in the ``swagger-ui-bundle-v2`` distribution (import name
``swagger_ui_bundle``); this follows FastAPI's self-hosting recipe: the app is
built with ``docs_url=None`` and serves ``get_swagger_ui_html`` with local URLs.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from lmops_core.api.security import PUBLIC, AccessRegistry

ASSETS_PATH = "/static/swagger-ui"
DOCS_PATH = "/docs"


def mount_docs(app: FastAPI, registry: AccessRegistry) -> None:
    """Add ``/docs`` and the static Swagger UI files (both public)."""
    app.mount(
        ASSETS_PATH, StaticFiles(directory=Path(str(swagger_ui_path))), name="swagger-ui-assets"
    )
    registry.add_raw(ASSETS_PATH, PUBLIC)

    @app.get(DOCS_PATH, include_in_schema=False, dependencies=[Depends(PUBLIC)])
    def swagger_ui() -> HTMLResponse:
        """The interactive API documentation."""
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - docs",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
        )


__all__ = ["ASSETS_PATH", "DOCS_PATH", "mount_docs"]
