"""Templates to HTML responses: autoescaped Jinja2, strict headers, no server paths."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from lmops_core.api.paths import scrubber_of
from lmops_core.api.sessions import ConsoleSession

#: Where the console lives.
PREFIX = "/console"
SIGN_IN = f"{PREFIX}/sign-in"

_COMMON = {
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
#: Console pages: our own stylesheet and frames only, nothing from another host, no script.
PAGE_HEADERS = {
    **_COMMON,
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}
#: The validation report, framed by the request page: its inline CSS and SVG only.
REPORT_HEADERS = {
    **_COMMON,
    "X-Frame-Options": "SAMEORIGIN",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    ),
}
#: Evidence artifacts (plugin output): a sandbox of their own, never our origin.
ARTIFACT_HEADERS = {
    **_COMMON,
    "Content-Security-Policy": (
        "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    ),
}


def when(value: datetime | str | None) -> str:
    """A time as ``YYYY-MM-DD HH:MM UTC``."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value.replace("T", " ")[:19]
    return value.strftime("%Y-%m-%d %H:%M UTC")


def part(value: object) -> str:
    """``value`` quoted as one URL path segment."""
    return quote(str(value), safe="")


@cache
def environment() -> Environment:
    """The console's template environment (built once)."""
    env = Environment(
        loader=PackageLoader("lmops_core.api.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        # The templates ship in the package: never stat them again on each render.
        auto_reload=False,
        lstrip_blocks=True,
    )
    env.filters.update(when=when, part=part)
    env.globals.update(prefix=PREFIX, urlencode=urlencode)
    return env


def render(request: Request, template: str, *, csrf: str | None = None, **context: Any) -> str:
    """``template`` as HTML for the request's signed-in user (if any), server paths scrubbed.

    ``csrf`` stands in for the session's CSRF token (a page cached for every session of
    a user carries :data:`CSRF_SLOT` and gets each session's token when served).
    """
    session: ConsoleSession | None = getattr(request.state, "console_session", None)
    principal = getattr(request.state, "console_principal", None)
    html = (
        environment()
        .get_template(template)
        .render(
            user=session.user if session else None,
            csrf=csrf if csrf is not None else (session.csrf if session else ""),
            roles=sorted(principal.roles) if principal is not None else [],
            **context,
        )
    )
    return scrubber_of(request).text(html)


@dataclass(frozen=True)
class FormPage:
    """A page holding forms: ``template`` showing ``view``, titled ``title``."""

    request: Request
    template: str
    view: Any
    title: str

    def html(self, *, csrf: str | None = None, error: str = "", notice: str = "") -> str:
        """The page as HTML, with why a form was refused (``error``) or what it did (``notice``);
        ``csrf`` as for :func:`render`."""
        return render(
            self.request,
            self.template,
            csrf=csrf,
            view=self.view,
            error=error,
            notice=notice,
            title=self.title,
        )


def page(request: Request, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` rendered for the request's signed-in user (if any) as an HTML response."""
    return HTMLResponse(
        render(request, template, **context), status_code=status, headers=PAGE_HEADERS
    )


#: Where a cached page's CSRF token goes: random per process, never a valid token itself.
CSRF_SLOT = "csrf-slot-" + secrets.token_hex(16)


def with_csrf(request: Request, html: str) -> HTMLResponse:
    """A page rendered with :data:`CSRF_SLOT`, served with this session's own CSRF token."""
    session: ConsoleSession = request.state.console_session
    return HTMLResponse(html.replace(CSRF_SLOT, session.csrf), headers=PAGE_HEADERS)


def safe_next(target: str | None) -> str:
    """``target`` when it is a console path, else the inbox (no open redirects)."""
    if (
        target
        and (target == PREFIX or target.startswith(PREFIX + "/"))
        and "//" not in target
        and "\\" not in target
    ):
        return target
    return PREFIX


def to_sign_in(request: Request) -> Response:
    """Send the browser to the sign-in page, coming back here afterwards (GETs only)."""
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = SIGN_IN + (f"?{urlencode({'next': back})}" if request.method == "GET" else "")
    return RedirectResponse(target, status_code=303, headers=_COMMON)


def error_page(request: Request, status: int, code: str, message: str) -> Response:
    """A console error: sign in again on 401, otherwise a page saying what went wrong."""
    if status == 401:
        return to_sign_in(request)
    return page(request, "error.html", status=status, code=code, message=message)


__all__ = [
    "ARTIFACT_HEADERS",
    "CSRF_SLOT",
    "FormPage",
    "PAGE_HEADERS",
    "PREFIX",
    "REPORT_HEADERS",
    "SIGN_IN",
    "environment",
    "error_page",
    "page",
    "part",
    "render",
    "safe_next",
    "to_sign_in",
    "when",
    "with_csrf",
]
