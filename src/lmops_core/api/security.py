"""Who may call which route: bearer tokens, role rules and the default-deny guard.

Every route declares exactly one :class:`AccessRule`. FastAPI routes declare it
as a dependency (``Depends(READERS)``), which authenticates the bearer token and
checks the roles before the handler runs; the few raw Starlette routes (the
OpenAPI document, the Swagger UI assets) are listed in :class:`AccessRegistry`
and may only be public. :class:`DefaultDenyMiddleware` refuses any request that
reaches a route without a rule, so forgetting one closes the route instead of
opening it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Match, Mount, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from lmops_core.api.cache import GenerationCache, GenerationReader, Generations
from lmops_core.api.errors import send_error
from lmops_core.api.paths import scrubber_of
from lmops_core.api.sessions import SESSION_COOKIE, SessionStore
from lmops_core.errors import AuthenticationError, PermissionDeniedError
from lmops_core.governance.models import ROLES
from lmops_core.governance.schemas import Principal

if TYPE_CHECKING:
    from fastapi.dependencies.models import Dependant

    from lmops_core.workspace import Workspace

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiToken",
    description="An lmops API token: `lmops_<id>_<secret>`.",
)


@dataclass(frozen=True)
class AccessRule:
    """Who may call a route: nobody needs a token (``public``), or one of ``roles``."""

    name: str
    roles: frozenset[str] = frozenset()
    public: bool = False
    #: Authenticate by the console's session cookie instead of a bearer token.
    session: bool = False

    def __post_init__(self) -> None:
        unknown = self.roles - set(ROLES)
        if unknown:  # a typo in a rule must fail at import, not silently deny everyone
            raise ValueError(f"access rule {self.name!r} names unknown roles {sorted(unknown)}")
        if self.public == bool(self.roles):
            raise ValueError(f"access rule {self.name!r} must be public or name roles, not both")

    def describe(self) -> str:
        """``public`` or the roles, for docs and error messages."""
        return "public" if self.public else ", ".join(r for r in ROLES if r in self.roles)

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal | None:
        """FastAPI dependency: the authenticated caller, refused unless it holds a role."""
        if self.public:
            return None
        if self.session:
            principal = await session_principal(request)
        elif credentials is None:
            raise AuthenticationError("missing bearer token (Authorization: Bearer lmops_...)")
        else:
            principal = await authenticate(request, credentials.credentials)
        self.check_roles(request, principal)
        return principal

    def check_roles(self, request: Request, principal: Principal) -> None:
        """Refuse ``principal`` unless it holds one of the rule's roles."""
        if not principal.roles & self.roles:
            raise PermissionDeniedError(
                f"{principal.user!r} may not call {request.method} {request.url.path}: it "
                f"needs one of the roles {self.describe()} "
                f"(holds: {', '.join(sorted(principal.roles)) or 'none'})",
                required=sorted(self.roles),
            )


@dataclass(frozen=True)
class PageRule(AccessRule):
    """An :class:`AccessRule` for console pages: the caller is signed in by the session
    cookie, so FastAPI solves no bearer-token dependency for it on each request."""

    session: bool = True

    async def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        """FastAPI dependency: the session's principal, refused unless it holds a role."""
        principal = await session_principal(request)
        self.check_roles(request, principal)
        return principal


def public(name: str = "public") -> AccessRule:
    """A rule that lets anyone call the route, without a token."""
    return AccessRule(name=name, public=True)


def require(name: str, *roles: str) -> AccessRule:
    """A rule that needs a valid token whose user holds one of ``roles``."""
    return AccessRule(name=name, roles=frozenset(roles))


def on_pages(rule: AccessRule) -> PageRule:
    """The same roles as ``rule``, for console pages: signed in by session cookie."""
    return PageRule(name=f"console_{rule.name}", roles=rule.roles)


# The role table: every route of the API uses one of these.
PUBLIC = public()
READERS = require("readers", *ROLES)
SUBMITTERS = require("submitters", "submitter", "admin")
REVIEWERS = require("reviewers", "validator", "risk_officer", "data_steward", "admin")
AUDITORS = require("auditors", "viewer", "validator", "risk_officer", "data_steward", "admin")
VERIFIERS = require("verifiers", "risk_officer", "admin")
RULES = (PUBLIC, READERS, SUBMITTERS, REVIEWERS, AUDITORS, VERIFIERS)
# The console's pages and forms: the JSON API's rules, reached through a session.
PAGE_READERS = on_pages(READERS)
PAGE_REVIEWERS = on_pages(REVIEWERS)


def workspace_of(request: Request) -> Workspace:
    """The workspace the app serves (opened on first use)."""
    ws: Workspace = request.app.state.workspace.get()
    return ws


async def generations_of(request: Request) -> Generations:
    """The store's and the access generations (see :mod:`lmops_core.api.cache`), read
    once per request, by a read that started after the request arrived."""
    generations: Generations | None = getattr(request.state, "lmops_generations", None)
    if generations is None:
        reader: GenerationReader | None = getattr(request.app.state, "generations", None)
        if reader is None:
            reader = request.app.state.generations = GenerationReader(workspace_of(request).db)
        generations = await reader.read()
        request.state.lmops_generations = generations
    return generations


async def generation_of(request: Request) -> int:
    """The store's generation (see :mod:`lmops_core.api.cache`), read once per request."""
    return (await generations_of(request)).store


async def authenticate(request: Request, token: str) -> Principal:
    """The token's principal; reused while the access generation stands still.

    Database triggers move the access generation with every change to a token or
    a role (revoking a token, granting or revoking a role), whoever makes it, so
    the next request checks the token against the store again; other writes
    (decisions, new versions) leave principals cached. Failures are never cached.
    The key is a digest of the token, so the process never holds a secret longer
    than the request does. A new token is checked in the thread pool.
    """
    cache: GenerationCache[Principal] = request.app.state.principals
    generation = (await generations_of(request)).access
    key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
    ws = workspace_of(request)

    async def check() -> Principal:
        return await run_in_threadpool(ws.governance.authenticate, token)

    principal = await cache.get_or_compute(generation, key, check)
    return principal


async def cached_json(request: Request, key: Hashable, build: Callable[[], BaseModel]) -> Response:
    """``build()``'s JSON, computed in the thread pool once per store generation.

    For answers that are the same for every caller allowed to see them (the
    route's rule has already checked the caller): while the store stands still
    they are served from memory (:mod:`lmops_core.api.cache`). Server paths are
    rewritten to relative names (:mod:`lmops_core.api.paths`).
    """
    answers: GenerationCache[bytes] = request.app.state.answers
    generation = await generation_of(request)  # before reading, see lmops_core.api.cache

    async def render() -> bytes:
        # Paths are rewritten in the JSON text itself: one pass, once per generation.
        text = (await run_in_threadpool(build)).model_dump_json()
        return scrubber_of(request).text(text).encode()

    body = await answers.get_or_compute(generation, key, render)
    return Response(body, media_type="application/json")


async def session_principal(request: Request) -> Principal:
    """The principal of the request's console session; refused when there is none.

    The session is read from the store by primary key unless this process read it at
    the current access generation, which every sign-out, expiry delete or token and
    role change moves (revisions 0014 and 0017), so a sign-out through another server
    process holds at once. Its token is checked again like a bearer token (cached per
    access generation), so revoking the token or a role ends the session's rights at
    once; a session whose token no longer authenticates is deleted.
    """
    store: SessionStore = request.app.state.console_sessions
    session_id = request.cookies.get(SESSION_COOKIE)
    generation = (await generations_of(request)).access if session_id else None
    # A miss is read inline, not on the thread pool: one primary-key read costs less than
    # the hop (on SQLite, 50 clients: cached console pages 413 -> 647 req/s); on
    # PostgreSQL it holds the event loop for that one round trip.
    session = store.get(session_id, generation=generation) if session_id else None
    if session is None:
        raise AuthenticationError("sign in to the console first (no session, or it expired)")
    request.state.console_session = session
    try:
        principal = await authenticate(request, session.token.get_secret_value())
    except AuthenticationError:
        await run_in_threadpool(store.end, session_id)
        raise
    request.state.console_principal = principal
    return principal


def acting(request: Request, principal: Principal) -> Workspace:
    """The workspace acting as the caller, so the service checks and audits that user."""
    return workspace_of(request).as_principal(principal, via="token")


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    for dep in dependant.dependencies:
        yield dep
        yield from _walk(dep)


def routes_of(routes: list[BaseRoute]) -> list[RouteContext]:
    """Every route of an app, flattened through included routers, in routing order."""
    return list(iter_route_contexts(routes))


@dataclass
class AccessRegistry:
    """The rule of every route: found on FastAPI routes, listed here for raw routes."""

    raw: dict[str, AccessRule] = field(default_factory=dict)

    def add_raw(self, path: str, rule: AccessRule) -> None:
        """Declare the rule of a raw Starlette route or mount (only public rules)."""
        if not rule.public:
            # Raw routes run no FastAPI dependency, so nothing would check a token.
            raise ValueError(f"raw route {path} can only be public; use a FastAPI route")
        self.raw[path] = rule

    def rule_of(self, route: RouteContext) -> AccessRule | None:
        """The route's rule, or None when it has none (or, ambiguously, several)."""
        if isinstance(route.original_route, APIRoute):
            dependant = getattr(route, "dependant", None)
            found = (
                {d.call for d in _walk(dependant) if isinstance(d.call, AccessRule)}
                if dependant is not None
                else set()
            )
            return found.pop() if len(found) == 1 else None
        return self.raw.get(route.path) if route.path is not None else None

    def table(self, routes: list[BaseRoute]) -> list[tuple[str, str, AccessRule | None]]:
        """``(methods, path, rule)`` for every route, in routing order."""
        out = []
        for ctx in routes_of(routes):
            kind = (
                "MOUNT"
                if isinstance(ctx.original_route, Mount)
                else ",".join(sorted(ctx.methods or ["*"]))
            )
            out.append((kind, str(ctx.path), self.rule_of(ctx)))
        return out

    def unguarded(self, routes: list[BaseRoute]) -> list[str]:
        """``METHODS path`` of every route without a rule (should be empty)."""
        return [f"{kind} {path}" for kind, path, rule in self.table(routes) if rule is None]


class DefaultDenyMiddleware:
    """Refuses (403) any request that reaches a route without an access rule."""

    def __init__(self, app: ASGIApp, *, router: Router, registry: AccessRegistry) -> None:
        self.app = app
        self.router = router
        self.registry = registry
        self._table: tuple[tuple[int, ...], list[tuple[RouteContext, bool]]] = ((), [])
        self._every_guarded = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Every route has a rule (create_app refuses to build otherwise): nothing to refuse,
        # so the request is not matched against the routes twice. One added later is checked.
        if scope["type"] == "http" and not self._all_guarded():
            guarded = self._guarded_route(scope)
            if guarded is False:
                await send_error(
                    send,
                    403,
                    "permission_denied",
                    f"{scope['path']} has no access rule (default deny)",
                )
                return
        await self.app(scope, receive, send)

    def _contexts(self) -> list[tuple[RouteContext, bool]]:
        """Every route with whether it has a rule; rebuilt whenever the routes change."""
        routes = self.router.routes
        key = tuple(map(id, routes))
        if key != self._table[0]:
            contexts = routes_of(routes)
            table = [(c, self.registry.rule_of(c) is not None) for c in contexts]
            self._table = (key, table)
            self._every_guarded = all(guarded for _, guarded in table)
        return self._table[1]

    def _all_guarded(self) -> bool:
        self._contexts()  # rebuilt first if the routes changed
        return self._every_guarded

    def _guarded_route(self, scope: Scope) -> bool | None:
        """Whether the route the request reaches has a rule; None when it reaches none."""
        partial = None
        for ctx, guarded in self._contexts():
            match, _ = ctx.matches(scope)
            if match == Match.FULL:
                return guarded
            if match == Match.PARTIAL and partial is None:
                partial = guarded
        return partial


__all__ = [
    "AUDITORS",
    "PAGE_READERS",
    "PAGE_REVIEWERS",
    "PUBLIC",
    "READERS",
    "REVIEWERS",
    "RULES",
    "SUBMITTERS",
    "VERIFIERS",
    "AccessRegistry",
    "AccessRule",
    "DefaultDenyMiddleware",
    "PageRule",
    "acting",
    "authenticate",
    "cached_json",
    "generation_of",
    "generations_of",
    "on_pages",
    "public",
    "require",
    "routes_of",
    "session_principal",
    "workspace_of",
]
