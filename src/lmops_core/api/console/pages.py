"""The console's routes: sign-in and sign-out, inbox, request page, decisions, inventory.

Every route declares one access rule, as the JSON API's routes do: the pages
use the JSON API's role sets through the session cookie (``PAGE_READERS``,
``PAGE_REVIEWERS``), sign-in is public. Every form carries the session's CSRF
token. A decision goes through :meth:`Governance.decide` acting as the
signed-in user's token, the very call ``POST /api/v1/requests/{id}/approve``
makes, so it is checked, signed and audited the same way.
"""

from __future__ import annotations

import asyncio
import mimetypes
import secrets
import time
from collections.abc import Callable, Hashable
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from lmops_core.api.cache import GenerationCache
from lmops_core.api.console import views
from lmops_core.api.console.render import (
    ARTIFACT_HEADERS,
    CSRF_SLOT,
    PAGE_HEADERS,
    PREFIX,
    REPORT_HEADERS,
    SIGN_IN,
    FormPage,
    page,
    part,
    render,
    safe_next,
    with_csrf,
)
from lmops_core.api.errors import status_for
from lmops_core.api.routes import Text
from lmops_core.api.security import (
    PAGE_READERS,
    PAGE_REVIEWERS,
    PUBLIC,
    acting,
    authenticate,
    generation_of,
    workspace_of,
)
from lmops_core.api.sessions import SESSION_COOKIE, SIGN_IN_COOKIE, SessionStore, same_secret
from lmops_core.errors import (
    AuthenticationError,
    LmopsError,
    PermissionDeniedError,
    ValidationError,
)
from lmops_core.governance.access import check_user_role
from lmops_core.governance.decisions import check_target_stage
from lmops_core.governance.schemas import Principal

router = APIRouter(prefix=PREFIX, include_in_schema=False)
#: ``GET /`` sends people to the console.
root = APIRouter(include_in_schema=False)
RequestId = Annotated[Text, Path(min_length=1, max_length=64)]
Reader = Annotated[Principal, Depends(PAGE_READERS)]
Reviewer = Annotated[Principal, Depends(PAGE_REVIEWERS)]
#: Fields a console form may carry at most.
MAX_FIELDS = 16
#: Largest evidence artifact the console serves, in bytes.
MAX_ARTIFACT_BYTES = 32 * 1024 * 1024
_FORM = "application/x-www-form-urlencoded"
T = TypeVar("T")


async def off_loop(fn: Callable[[], T]) -> T:
    """``fn()`` in a worker thread of the event loop's default executor, as
    :func:`asyncio.to_thread` runs it (context variables included).

    The pages' reads and renders hop there rather than through Starlette's
    ``run_in_threadpool`` (AnyIO): measured in-process, the hop costs 0.09-0.13 ms
    of CPU there against 0.26-0.29 through AnyIO, and a never-opened page makes one.
    That executor runs at most ``min(32, CPUs + 4)`` threads (AnyIO's pool: 40), so
    fewer page builds share the interpreter at once.
    """
    return await asyncio.to_thread(fn)


async def build_page(request: Request, build: Callable[[], str]) -> str:
    """``build()``'s page: on the event loop itself with a SQLite store, else
    :func:`off_loop`.

    A page build (one page of rows: a few statements and a render) never waits on a
    network on SQLite, so a worker thread only adds the hop and hands the interpreter
    back and forth with the event loop (bench_api, SQLite, 3,000 requests, 50 clients,
    never-opened request pages: p99 130-133 ms through the thread, 89-106 on the loop;
    server CPU 2.3-2.6 against 1.9 ms a page). On PostgreSQL a build waits for its round
    trips, which a worker thread lets the event loop spend serving other requests.
    """
    if workspace_of(request).db.is_sqlite:
        return build()
    return await off_loop(build)


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


async def read_form(request: Request) -> dict[str, str]:
    """The posted form's fields; refused unless URL-encoded, UTF-8 and each field once."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != _FORM:
        raise ValidationError(
            f"console forms are posted as {_FORM}, not {media or 'untyped'}", field="content-type"
        )
    try:
        pairs = parse_qsl(
            (await request.body()).decode("utf-8"),
            keep_blank_values=True,
            max_num_fields=MAX_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationError(f"unreadable form: {exc}", field="body") from exc
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        raise ValidationError("a form field was sent twice", field="body")
    return dict(pairs)


def check_origin(request: Request) -> None:
    """Refuse a form posted from another origin (the browser says so in ``Origin``)."""
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        raise PermissionDeniedError(f"a console form was posted from another origin ({origin})")


async def checked_form(request: Request) -> dict[str, str]:
    """The form of a signed-in user, refused unless it carries the session's CSRF token."""
    check_origin(request)
    form = await read_form(request)
    session = request.state.console_session
    if not same_secret(form.get("csrf"), session.csrf):
        raise PermissionDeniedError(
            "the form's CSRF token is missing or wrong; reload the page and try again"
        )
    return form


def _sessions(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.console_sessions
    return store


async def refused_form(exc: LmopsError, build: Callable[[str], str]) -> HTMLResponse:
    """The form's page again, ``build(error)`` in the thread pool, with the refusal's
    status: for bad input or a stale state, which the user can fix (never for a refusal
    of who they are or what they may do: that is the JSON API's error)."""
    error = exc.message
    html = await run_in_threadpool(lambda: build(error))
    return HTMLResponse(html, status_code=status_for(exc), headers=PAGE_HEADERS)


# -- signing in and out -----------------------------------------------------------------------


def _sign_in_page(
    request: Request, target: str, *, status: int = 200, error: str = ""
) -> HTMLResponse:
    form_csrf = secrets.token_urlsafe(32)
    response = page(
        request,
        "sign_in.html",
        status=status,
        form_csrf=form_csrf,
        next=safe_next(target),
        error=error,
    )
    _cookie(response, request, SIGN_IN_COOKIE, form_csrf, max_age=3600)
    return response


@root.get("/", dependencies=[Depends(PUBLIC)])
def home() -> RedirectResponse:
    """The console's inbox."""
    return RedirectResponse(PREFIX, status_code=303)


@router.get("/sign-in", dependencies=[Depends(PUBLIC)])
def sign_in_form(
    request: Request, next: Annotated[str, Query(max_length=512)] = ""
) -> HTMLResponse:
    """The sign-in form: paste an API token once."""
    return _sign_in_page(request, next)


@router.post("/sign-in", dependencies=[Depends(PUBLIC)])
async def sign_in(request: Request) -> Response:
    """Exchange a valid token for a session cookie, then go where the user was going."""
    check_origin(request)
    form = await read_form(request)
    target = form.get("next", "")
    if not same_secret(form.get("csrf"), request.cookies.get(SIGN_IN_COOKIE, "\x00")):
        return _sign_in_page(
            request, target, status=403, error="The sign-in form expired; please sign in again."
        )
    token = form.get("token", "").strip()
    try:
        principal = await authenticate(request, token)
    except AuthenticationError:
        return _sign_in_page(
            request,
            target,
            status=401,
            error="That token is not valid (mistyped, expired or revoked).",
        )
    session_id, _ = await run_in_threadpool(_sessions(request).start, principal)
    response = RedirectResponse(safe_next(target), status_code=303)
    _cookie(
        response,
        request,
        SESSION_COOKIE,
        session_id,
        max_age=int(_sessions(request).ttl.total_seconds()),
    )
    response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, _principal: Reader) -> Response:
    """End the session and forget its cookie."""
    await checked_form(request)
    await run_in_threadpool(_sessions(request).end, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(SIGN_IN, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


# -- pages ------------------------------------------------------------------------------------


async def cached_page(
    request: Request, principal: Principal, key: Hashable, build: Callable[[], str]
) -> HTMLResponse:
    """``build()``'s page, computed (:func:`build_page`) once per store generation, user
    and minute, then served to each of the user's sessions with its own CSRF token.

    A page depends on the store (the generation moves with every audited change, see
    :mod:`lmops_core.api.cache`), on who reads it (user and roles) and, through ages
    and times left shown to the minute, on the clock: all three are in the key.
    """
    pages: GenerationCache[str] = request.app.state.console_pages
    generation = await generation_of(request)  # before reading, see lmops_core.api.cache
    minute = int(time.time() // 60)
    html = await pages.get_or_compute(
        generation,
        (key, principal.user, principal.roles, minute),
        lambda: build_page(request, build),
    )
    return with_csrf(request, html)


@router.get("")
async def inbox(
    request: Request,
    principal: Reader,
    scope: Annotated[str | None, Query(max_length=8)] = None,
    asset_type: Annotated[Text, Query(max_length=16)] = "",
    target_stage: Annotated[Text, Query(max_length=64)] = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    """Pending requests, oldest first, a page at a time, with what each still needs.

    The pending queue is read once per store generation for every reader, and filtered
    once per generation for each user and roles; a page is then a slice of it.
    """
    stage = check_target_stage(target_stage, field="target_stage") if target_stage else None
    queues: GenerationCache[Any] = request.app.state.console_queues
    generation = await generation_of(request)
    queue = await queues.get_or_compute(
        generation,
        ("pending", asset_type, target_stage),
        lambda: off_loop(
            lambda: acting(request, principal).governance.pending_queue(
                asset_type=asset_type or None, target_stage=stage
            )
        ),
    )
    listed = await queues.get_or_compute(
        generation,
        ("inbox", principal.user, principal.roles, scope, asset_type, target_stage),
        lambda: off_loop(
            lambda: views.inbox_queue(
                queue, principal, scope=scope, asset_type=asset_type, target_stage=target_stage
            )
        ),
    )

    def build() -> str:
        data = views.inbox_page(listed, page_number)
        return render(request, "inbox.html", csrf=CSRF_SLOT, inbox=data, title="Inbox")

    return await cached_page(
        request, principal, ("inbox", scope, asset_type, target_stage, page_number), build
    )


def _request_page(request: Request, principal: Principal, request_id: str) -> FormPage:
    # Only reads (the principal is passed for what it may see and decide): the served
    # workspace, not a throwaway one acting as the user, whose parts refer to each other
    # and so wait for the cyclic garbage collector.
    view = views.request_view(workspace_of(request), principal, request_id)
    title = f"Request {view.request.ref} to {view.request.target_stage}"
    return FormPage(request, "request.html", view, title)


@router.get("/requests/{request_id}")
async def request_page(
    request: Request,
    principal: Reader,
    request_id: RequestId,
    decided: Annotated[str, Query(max_length=8)] = "",
) -> HTMLResponse:
    """One request: evaluation, evidence, comparison, report, decisions and audit trail."""
    notice = {
        "approve": "Your approval was recorded.",
        "reject": "Your rejection was recorded.",
    }.get(decided, "")

    return await cached_page(
        request,
        principal,
        ("request", request_id, notice),
        lambda: _request_page(request, principal, request_id).html(csrf=CSRF_SLOT, notice=notice),
    )


@router.post("/requests/{request_id}/decide")
async def decide(request: Request, principal: Reviewer, request_id: RequestId) -> Response:
    """Approve or reject with a comment, as one role the user holds (the JSON API's call)."""
    form = await checked_form(request)
    decision = form.get("decision", "")
    if decision not in ("approve", "reject"):
        raise ValidationError("decision must be approve or reject", field="decision")
    governance = acting(request, principal).governance
    try:
        await run_in_threadpool(
            governance.decide,
            request_id,
            approve=decision == "approve",
            role=check_user_role(form.get("role", "")),
            comment=form.get("comment", ""),
        )
    except (AuthenticationError, PermissionDeniedError):
        raise  # the same refusal the JSON API gives, not a form to fix
    except LmopsError as exc:
        # Bad input or a stale request: show the page again, now in its new state, with why.
        return await refused_form(
            exc, lambda error: _request_page(request, principal, request_id).html(error=error)
        )
    return RedirectResponse(
        f"{PREFIX}/requests/{part(request_id)}?decided={decision}", status_code=303
    )


@router.get("/requests/{request_id}/report")
def report(request: Request, principal: Reader, request_id: RequestId) -> HTMLResponse:
    """The validation report of the request's version, as its own HTML page (framed)."""
    from lmops_core.api.paths import scrubber_of
    from lmops_core.reports import render_report

    ws = acting(request, principal)
    detail = ws.governance.get_request(request_id)
    rendered = render_report(
        ws, detail.ref, to=check_target_stage(detail.target_stage, field="target_stage")
    )
    return HTMLResponse(scrubber_of(request).text(rendered.html), headers=REPORT_HEADERS)


@router.get("/requests/{request_id}/evidence/{evidence_id}/{name}")
def artifact(
    request: Request,
    principal: Reader,
    request_id: RequestId,
    evidence_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    name: Annotated[Text, Path(min_length=1, max_length=256)],
) -> Response:
    """One artifact of one evidence record on the request's version, sandboxed."""
    ws = acting(request, principal)
    digest = views.artifact_digest(ws, request_id, evidence_id, name)
    with ws.artifacts.open(digest) as reader:
        data = reader.read(MAX_ARTIFACT_BYTES + 1)
        if len(data) <= MAX_ARTIFACT_BYTES:
            reader.read()  # reaching the end checks the digest
    if len(data) > MAX_ARTIFACT_BYTES:
        raise ValidationError(
            f"artifact {name!r} is larger than {MAX_ARTIFACT_BYTES} bytes; export it with the CLI",
            field="name",
        )
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media.startswith("text/") or media in ("application/json", "image/svg+xml"):
        media += "; charset=utf-8"
    return Response(data, media_type=media, headers=ARTIFACT_HEADERS)


@router.get("/inventory")
def inventory(request: Request, principal: Reader) -> HTMLResponse:
    """Every model, dataset, prompt and suite with versions, stages and open requests."""
    data = views.inventory(acting(request, principal))
    return page(request, "inventory.html", inventory=data, title="Inventory")


@router.get("/assets/{asset_type}/{name}")
def asset(
    request: Request,
    principal: Reader,
    asset_type: Annotated[Text, Path(max_length=16)],
    name: Annotated[Text, Path(min_length=1, max_length=256)],
) -> HTMLResponse:
    """One model, dataset, prompt or suite: versions, evidence, lineage, open requests."""
    view = views.asset_view(acting(request, principal), asset_type, name)
    return page(
        request, "asset.html", view=view, asset_type=asset_type, title=f"{asset_type} {name}"
    )


__all__ = ["cached_page", "checked_form", "read_form", "refused_form", "root", "router"]
