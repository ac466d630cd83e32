"""One place that turns errors into HTTP responses ``{"code", "message", "details"}``.

Domain errors carry a stable ``code``; :data:`STATUS_BY_CODE` maps it to a status.
An error class without an entry uses the nearest parent's code (an
``UnsafePathError`` is a ``ValidationError``), so bad input never becomes a 500.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

from lmops_core.errors import LmopsError
from lmops_core.redaction import redact, redact_text

STATUS_BY_CODE: dict[str, int] = {
    "not_found": 404,
    "already_exists": 409,
    "conflict": 409,
    "integrity_error": 409,
    "audit_chain_broken": 409,
    # The request is well-formed; the version's current evidence does not satisfy the
    # policy. Attaching evidence and retrying can succeed: a conflict with state.
    "policy_violation": 409,
    "validation_error": 422,
    "unsafe_path": 422,
    "unsafe_content": 422,
    "policy_error": 422,
    "permission_denied": 403,
    "unauthenticated": 401,
    "stage_error": 500,
    "plugin_error": 500,
    "configuration_error": 500,
    "lmops_error": 500,
}

_CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
}


class ErrorBody(BaseModel):
    """The body of every error response."""

    code: str
    message: str
    details: dict[str, Any] = {}


#: OpenAPI ``responses`` shared by the routes that need a token.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing, malformed or revoked token"},
    403: {"model": ErrorBody, "description": "The caller lacks a role, or separation of duties"},
    422: {"model": ErrorBody, "description": "Invalid input"},
}


def status_for(exc: LmopsError) -> int:
    """The HTTP status of a domain error, by its code or its nearest parent's code."""
    for cls in type(exc).__mro__:
        code = getattr(cls, "code", None)
        if code in STATUS_BY_CODE:
            return STATUS_BY_CODE[code]
    return 500


def _jsonable(value: Any) -> Any:
    # Details come from deep inside the service; anything not JSON becomes its text.
    return json.loads(json.dumps(value, default=str))


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A JSON error response in the API's one shape."""
    return JSONResponse(
        {"code": code, "message": message, "details": _jsonable(details or {})},
        status_code=status,
        headers=headers,
    )


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    """Send an error from a raw ASGI middleware, before any route runs."""
    body = json.dumps({"code": code, "message": message, "details": {}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _lmops_error(request: Request, exc: Exception) -> Response:
    from lmops_core.api.paths import scrub

    assert isinstance(exc, LmopsError)
    status = status_for(exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    # Neither secrets nor server paths leave in an error.
    message, details = scrub(request, [redact_text(exc.message), redact(_jsonable(exc.details))])
    if _on_console(request):
        from lmops_core.api.console.render import error_page

        return error_page(request, status, exc.code, message)
    return error_response(status, exc.code, message, details, headers)


def _on_console(request: Request) -> bool:
    # Console pages answer errors as pages (a 401 sends the browser to sign in).
    return request.url.path == "/console" or request.url.path.startswith("/console/")


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Only location, message and type: the raw input may be bytes that are not UTF-8.
    errors = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    where = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
    if _on_console(request):
        from lmops_core.api.console.render import error_page

        return error_page(request, 422, "validation_error", f"invalid request: {where}")
    return error_response(422, "validation_error", f"invalid request: {where}", {"errors": errors})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODE_BY_STATUS.get(exc.status_code, "http_error")
    if _on_console(request):
        from lmops_core.api.console.render import error_page

        return error_page(request, exc.status_code, code, str(exc.detail))
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _internal_error(_request: Request, _exc: Exception) -> JSONResponse:
    # A bug, not bad input: say nothing about internals; the server log has the traceback.
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers for domain, validation, HTTP and unexpected errors."""
    app.add_exception_handler(Exception, _internal_error)
    app.add_exception_handler(LmopsError, _lmops_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


__all__ = [
    "ERROR_RESPONSES",
    "STATUS_BY_CODE",
    "ErrorBody",
    "error_response",
    "install_error_handlers",
    "send_error",
    "status_for",
]
