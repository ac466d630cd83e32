"""Console sign-ins: a bearer token exchanged once for a session kept in the store.

The browser holds only a random session id in an HttpOnly, SameSite=Strict
cookie. The store (table ``console_sessions``, revision 0016) holds a row found
by a digest of that id, naming the token by its id and keeping the bearer token
sealed (AES-GCM) under a key derived from the session id: neither a copy of the
database nor the cookie alone yields the token. Each request reads its row by
primary key, unseals the token and acts as its owner through the same
:meth:`~lmops_core.workspace.Workspace.as_principal` door the JSON API uses, so
every server process (``lmops serve --workers N``) honours a sign-in made
through another, and a sign-out or an expiry seen by any of them holds for all
at once. Each session's CSRF token is derived from its id, so it is never stored.

A process keeps the sessions it has read while the store's *access generation*
stands still (:mod:`lmops_core.api.cache`): database triggers move it whenever a
session row is updated or deleted (revision 0017), as they do for every token or
role change (revision 0014). A sign-out through any process, or a row deleted by
hand, therefore makes every process read the row again on its next request, and
a cached page costs no session read at all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from base64 import urlsafe_b64encode
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from sqlalchemy import bindparam, delete, func, select
from sqlmodel import col

from lmops_core.governance.models import ConsoleSignIn
from lmops_core.governance.schemas import Principal
from lmops_core.registry.db import Database, end_read
from lmops_core.registry.models import utcnow

#: The cookie that carries the session id.
SESSION_COOKIE = "lmops_console"
#: The cookie that carries the sign-in form's CSRF token (before any session exists).
SIGN_IN_COOKIE = "lmops_console_sign_in"
#: Sessions the store keeps at most; the oldest is dropped to admit a new one.
MAX_SESSIONS = 10_000
_NONCE_BYTES = 12

#: Built once: every console request reads its session with it.
_BY_ID = select(
    col(ConsoleSignIn.user),
    col(ConsoleSignIn.token_id),
    col(ConsoleSignIn.sealed_token),
    col(ConsoleSignIn.expires_at),
).where(col(ConsoleSignIn.id) == bindparam("id"))


def _row_id(session_id: str) -> str:
    # Found by digest: the store never holds a live cookie.
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def _derived(session_id: str, purpose: bytes) -> bytes:
    """A 32-byte secret for ``purpose``, derived from the session id (HMAC-SHA256)."""
    return hmac.new(session_id.encode("utf-8", "surrogatepass"), purpose, hashlib.sha256).digest()


def _bound(row_id: str, user: str, token_id: str) -> bytes:
    # Authenticated with the seal: a sealed token moved to another row does not open.
    return f"{row_id}\x00{user}\x00{token_id}".encode()


def _csrf_of(session_id: str) -> str:
    return urlsafe_b64encode(_derived(session_id, b"lmops console csrf")).decode().rstrip("=")


def _aware(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they are stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


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
    """Sessions in the store, each valid until its expiry, shared by every server process.

    ``database`` gives the store's :class:`Database` (called on use, so the app can
    open its workspace lazily); ``clock`` gives the current time (UTC), and tests hand
    in their own to expire a session without waiting. Every method does database
    work: call them from a worker thread, not the event loop.
    """

    def __init__(
        self,
        database: Callable[[], Database],
        ttl: timedelta,
        *,
        clock: Callable[[], datetime] = utcnow,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        self.database = database
        self.ttl = ttl
        self.clock = clock
        self.max_sessions = max_sessions
        self._read: tuple[Any, str, bool] | None = None
        #: Sessions read from the store, by row id: (access generation read at, session).
        self._known: OrderedDict[str, tuple[int, ConsoleSession]] = OrderedDict()
        self._lock = threading.Lock()
        #: Session rows read from the store (a cached session costs none).
        self.reads = 0

    def start(self, principal: Principal) -> tuple[str, ConsoleSession]:
        """A new session acting as ``principal`` (authenticated by its token): the
        session id (for the cookie) and the session."""
        if principal.token is None or not principal.token_id:
            raise ValueError("a console session acts only through the token that signed in")
        session_id = secrets.token_urlsafe(32)
        row_id = _row_id(session_id)
        token = principal.token.get_secret_value()
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = nonce + AESGCM(_derived(session_id, b"lmops console seal")).encrypt(
            nonce, token.encode(), _bound(row_id, principal.user, principal.token_id)
        )
        now = self.clock()
        session = ConsoleSession(
            user=principal.user,
            token=SecretStr(token),
            csrf=_csrf_of(session_id),
            expires_at=now + self.ttl,
        )
        with self.database().write() as s:
            s.execute(delete(ConsoleSignIn).where(col(ConsoleSignIn.expires_at) <= now))
            count = s.execute(select(func.count()).select_from(ConsoleSignIn)).scalar_one()
            if count >= self.max_sessions:
                oldest = (
                    select(col(ConsoleSignIn.id))
                    .order_by(col(ConsoleSignIn.created_at))
                    .limit(count - self.max_sessions + 1)
                )
                s.execute(delete(ConsoleSignIn).where(col(ConsoleSignIn.id).in_(oldest)))
            s.add(
                ConsoleSignIn(
                    id=row_id,
                    user=principal.user,
                    token_id=principal.token_id,
                    sealed_token=sealed.hex(),
                    created_at=now,
                    expires_at=session.expires_at,
                )
            )
        return session_id, session

    def get(
        self, session_id: str | None, *, generation: int | None = None
    ) -> ConsoleSession | None:
        """The live session ``session_id`` names; None when unknown or expired (an expired
        one is deleted).

        With ``generation`` (the access generation, read after the request arrived) a
        session read at that same generation is served from memory: every update or
        delete of a session row moves it (revision 0017's triggers), so a sign-out
        through any process is seen at once. Without it the row is always read.
        """
        if not session_id:
            return None
        row_id = _row_id(session_id)
        session = self._cached(row_id, generation)
        if session is None:
            session = self._unsealed(session_id, row_id)
            if session is None:
                return None
            if generation is not None:
                self._remember(row_id, generation, session)
        if self.clock() >= session.expires_at:
            self.end(session_id)
            return None
        return session

    def _cached(self, row_id: str, generation: int | None) -> ConsoleSession | None:
        if generation is None:
            return None
        with self._lock:
            known = self._known.get(row_id)
            if known is None or known[0] != generation:
                return None
            self._known.move_to_end(row_id)
            return known[1]

    def _remember(self, row_id: str, generation: int, session: ConsoleSession) -> None:
        with self._lock:
            self._known[row_id] = (generation, session)
            self._known.move_to_end(row_id)
            while len(self._known) > self.max_sessions:
                self._known.popitem(last=False)

    def _unsealed(self, session_id: str, row_id: str) -> ConsoleSession | None:
        """The session as its row holds it (expired or not), or None without a valid row."""
        row = self._row(row_id)
        if row is None:
            return None
        user, token_id, sealed_hex, expires = row
        expires_at = _aware(
            datetime.fromisoformat(expires) if isinstance(expires, str) else expires
        )
        sealed = bytes.fromhex(sealed_hex)
        try:
            token = (
                AESGCM(_derived(session_id, b"lmops console seal"))
                .decrypt(
                    sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], _bound(row_id, user, token_id)
                )
                .decode()
            )
        except InvalidTag:  # not sealed by this session: treat as no session at all
            return None
        return ConsoleSession(
            user=user, token=SecretStr(token), csrf=_csrf_of(session_id), expires_at=expires_at
        )

    def _row(self, row_id: str) -> tuple[str, str, str, datetime | str] | None:
        """The session row by primary key, read on a pooled driver connection.

        It runs on every console request: the statement is compiled once for the
        store's dialect (quoting, placeholders) and run without an ORM or Core result,
        which costs a fifth of a Core ``execute`` (SQLite hands the timestamp back as text).
        """
        engine = self.database().engine
        if self._read is None or self._read[0] is not engine:
            compiled = _BY_ID.compile(dialect=engine.dialect)
            self._read = (engine, str(compiled), bool(engine.dialect.positional))
        _, sql, positional = self._read
        self.reads += 1
        conn = engine.raw_connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute(sql, (row_id,) if positional else {"id": row_id})
                row = cursor.fetchone()
            finally:
                cursor.close()
            end_read(conn)  # keeps the connection's prepared statements (PostgreSQL)
        finally:
            conn.close()
        return None if row is None else (row[0], row[1], row[2], row[3])

    def end(self, session_id: str | None) -> None:
        """Delete the session (sign-out), whichever process started it; unknown ids are
        ignored. The delete moves the access generation (revision 0017), so every
        process stops honouring the session on its next request."""
        if session_id:
            with self._lock:
                self._known.pop(_row_id(session_id), None)
            with self.database().write() as s:
                s.execute(delete(ConsoleSignIn).where(col(ConsoleSignIn.id) == _row_id(session_id)))

    def __len__(self) -> int:
        """Sessions in the store, expired ones not yet deleted included."""
        with self.database().read() as s:
            return int(s.execute(select(func.count()).select_from(ConsoleSignIn)).scalar_one())


__all__ = [
    "MAX_SESSIONS",
    "SESSION_COOKIE",
    "SIGN_IN_COOKIE",
    "ConsoleSession",
    "SessionStore",
    "same_secret",
]
