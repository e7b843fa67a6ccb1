"""Errors that carry their HTTP status, and how each surface writes them.

Thinger-style routes (and /_emulator) answer ``{"error": {"message": ...}}``; IoT Flow routes
(``/iot-flow``, ``/thingpark``) answer ``{"code": ..., "message": ...}``. A server error never shows a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

log = logging.getLogger("iotcli.emulator")

_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    500: "INTERNAL_ERROR",
}


#: Paths answered in the IoT Flow error shape: the IoT Flow API, and the ThingPark paths real clients call
#: (the legacy DX connections API, the LRC downlink tunnel).
IOTFLOW_PATHS = ("/iot-flow", "/thingpark")


class ApiProblem(Exception):
    """Raise anywhere in a request to answer ``status`` with ``message`` in the surface's error shape."""

    def __init__(
        self, status: int, message: str, *, code: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "ERROR")
        self.headers = headers


def error_body(path: str, status: int, message: str, code: str | None = None) -> dict[str, Any]:
    if path.startswith(IOTFLOW_PATHS):
        return {"code": code or _CODES.get(status, "ERROR"), "message": message}
    return {"error": {"message": message}}


def error_response(
    path: str, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(error_body(path, status, message, code), status_code=status, headers=headers)


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiProblem)
    return error_response(request.url.path, exc.status, exc.message, exc.code, exc.headers)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no such route: {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return error_response(request.url.path, exc.status_code, message, headers=getattr(exc, "headers", None))


async def handle_overflow(request: Request, exc: Exception) -> Response:
    """A number from the request too large for SQLite's 64-bit INTEGER (or for a date) reached the store.

    Routes should reject such numbers naming the field; this keeps the ones they miss from being a 500.
    """
    log.warning("number out of range on %s %s: %s", request.method, request.url.path, exc)
    return error_response(
        request.url.path, 400, "a number in the request is out of range (integers must fit in 64 bits)"
    )


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    # Logged with the exception type and message only: request data (tokens) stays out of the log.
    log.error("internal error on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return error_response(request.url.path, 500, "internal error in the emulator (see its log)")
