"""A cap on request bodies, enforced before anything reads them (authentication included).

Routes read a JSON body before their dependencies run, so without a cap an
anonymous caller could make the server hold any amount of memory. This pure
ASGI middleware answers 413 at once when ``Content-Length`` is over the cap,
and otherwise counts the bytes as they arrive (chunked bodies too): the moment
the count passes the cap it answers 413 and tells the application the client
went away, so the rest of the body is never read.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lmops_core.api.errors import send_error

#: The default cap: far above any body the API accepts (a decision comment is 4,000 chars).
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


def _too_large(limit: int) -> str:
    return f"request body too large: the limit is {limit} bytes (LMOPS_API_MAX_BODY_BYTES)"


class BodyLimitMiddleware:
    """Refuses (413) a request whose body is, or turns out to be, longer than ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None:
            text = declared.strip()
            if not text.isdigit():
                await send_error(send, 400, "bad_request", "malformed Content-Length header")
                return
            if int(text) > self.max_bytes:
                await send_error(send, 413, "payload_too_large", _too_large(self.max_bytes))
                return
        await _Counted(self.app, self.max_bytes)(scope, receive, send)


def _content_length(scope: Scope) -> bytes | None:
    # A plain scan of the raw header list: this runs for every request.
    for name, value in scope["headers"]:
        if name == b"content-length":
            found: bytes = value
            return found
    return None


class _Counted:
    """One request whose body bytes are counted as the application receives them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.seen = 0
        self.started = False
        self.refused = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted_receive() -> Message:
            if self.refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                self.seen += len(message.get("body", b""))
                if self.seen > self.limit:
                    self.refused = True
                    if not self.started:
                        self.started = True
                        await send_error(send, 413, "payload_too_large", _too_large(self.limit))
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if self.refused:
                return  # the 413 is the answer; whatever the app makes of a cut body is not
            if message["type"] == "http.response.start":
                self.started = True
            await send(message)

        await self.app(scope, counted_receive, guarded_send)


__all__ = ["DEFAULT_MAX_BODY_BYTES", "BodyLimitMiddleware"]
