"""Console sign-ins: a bearer token exchanged once for a server-side session.

The browser holds only a random session id in an HttpOnly, SameSite=Strict
cookie; the token stays in this process, so a page can act as its owner through
the same :meth:`~lmops_core.workspace.Workspace.as_principal` door the JSON API
uses. Each session has its own CSRF token, which every console form carries.
Sessions live in memory: restarting the server signs everyone out, which is the
safe direction to fail.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import SecretStr

from lmops_core.registry.models import utcnow

#: The cookie that carries the session id.
SESSION_COOKIE = "lmops_console"
#: The cookie that carries the sign-in form's CSRF token (before any session exists).
SIGN_IN_COOKIE = "lmops_console_sign_in"
#: Sessions one process keeps at most; the oldest is dropped to admit a new one.
MAX_SESSIONS = 10_000


def _key(session_id: str) -> bytes:
    # Keyed by digest: a dump of the process's memory does not hand out live cookies.
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).digest()


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a submitted secret with the expected one."""
    return given is not None and hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8")
    )


@dataclass(frozen=True)
class ConsoleSession:
    """One signed-in browser: whose token it acts with, its CSRF token and its expiry."""

    user: str
    token: SecretStr
    csrf: str
    expires_at: datetime


class SessionStore:
    """Sessions by id, each valid until its expiry; thread-safe.

    ``clock`` gives the current time (UTC); tests hand in their own to expire a
    session without waiting.
    """

    def __init__(self, ttl: timedelta, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.ttl = ttl
        self.clock = clock
        self._sessions: dict[bytes, ConsoleSession] = {}
        self._lock = threading.Lock()

    def start(self, user: str, token: str) -> tuple[str, ConsoleSession]:
        """A new session for ``user`` acting with ``token``: its id (for the cookie) and it."""
        session_id = secrets.token_urlsafe(32)
        session = ConsoleSession(
            user=user,
            token=SecretStr(token),
            csrf=secrets.token_urlsafe(32),
            expires_at=self.clock() + self.ttl,
        )
        with self._lock:
            self._drop_expired()
            while len(self._sessions) >= MAX_SESSIONS:
                del self._sessions[next(iter(self._sessions))]
            self._sessions[_key(session_id)] = session
        return session_id, session

    def get(self, session_id: str | None) -> ConsoleSession | None:
        """The live session ``session_id`` names; None when unknown or expired."""
        if not session_id:
            return None
        key = _key(session_id)
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and self.clock() >= session.expires_at:
                del self._sessions[key]
                return None
        return session

    def end(self, session_id: str | None) -> None:
        """Forget the session (sign-out); unknown ids are ignored."""
        if session_id:
            with self._lock:
                self._sessions.pop(_key(session_id), None)

    def _drop_expired(self) -> None:
        now = self.clock()
        for key in [k for k, s in self._sessions.items() if now >= s.expires_at]:
            del self._sessions[key]


__all__ = [
    "MAX_SESSIONS",
    "SESSION_COOKIE",
    "SIGN_IN_COOKIE",
    "ConsoleSession",
    "SessionStore",
    "same_secret",
]
