"""The hot routes' short way through the ASGI stack.

Callback ingest and the LoRaWAN uplink ingress carry the load; everything else is light. Starlette
sends every request through its error middleware, our two middlewares, its exception middleware and
the router (a regex per route), each wrapping ``send`` in a closure: on these two routes that costs
about as much CPU as the handler's own work. ``EmulatorApp`` recognizes a hot route by its path
segments before all that and calls the same handler with the same ``Request``, mapping exceptions
with the same handlers. Anything it does not recognize with certainty (another route or method, no
``Content-Length``, a body over the limit) goes the long way, so answers are the same either way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from iotcli.emulator.errors import handle_unexpected
from iotcli.emulator.routing import Handler, RouteSpec

log = logging.getLogger("iotcli.emulator")

ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


class PathMatcher:
    """Matches a path template (``/v3/users/{user}/...``) segment by segment, as Starlette's ``{name}``
    (one or more characters other than ``/``) does, without a regex."""

    def __init__(self, template: str) -> None:
        self.segments = template.split("/")
        self.params = [
            (i, seg[1:-1]) for i, seg in enumerate(self.segments) if seg.startswith("{") and seg.endswith("}")
        ]
        self.literals = [(i, seg) for i, seg in enumerate(self.segments) if not seg.startswith("{")]
        self.last = self.segments[-1]

    def match(self, path: str) -> dict[str, str] | None:
        if not path.endswith(self.last):
            return None
        parts = path.split("/")
        if len(parts) != len(self.segments):
            return None
        for i, literal in self.literals:
            if parts[i] != literal:
                return None
        params = {}
        for i, name in self.params:
            value = parts[i]
            if not value:
                return None
            params[name] = value
        return params


class EmulatorApp(Starlette):
    """Starlette, with the hot routes (``hot=True`` in their route table) served the short way."""

    def __init__(self, *, hot: list[RouteSpec], max_body: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_body = max_body
        self.hot: list[tuple[str, PathMatcher, Handler]] = [
            (spec.method, PathMatcher(spec.path), spec.handler) for spec in hot
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            method = scope["method"]
            for hot_method, matcher, handler in self.hot:
                if method == hot_method:
                    params = matcher.match(scope["path"])
                    if params is not None and self._length_ok(scope):
                        scope["app"] = self
                        scope["path_params"] = params
                        await self._serve(handler, scope, receive, send)
                        return
        await super().__call__(scope, receive, send)

    def _length_ok(self, scope: Scope) -> bool:
        """A body with a valid Content-Length within the limit (anything else: the long way answers it)."""
        for key, value in scope["headers"]:
            if key == b"content-length":
                return value.isdigit() and int(value) <= self.max_body
        return False

    async def _serve(self, handler: Handler, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before its body arrived: nobody to answer
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        # What ``request.body()`` returns from now on (Starlette keeps the body it read there).
        request._body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            response = await handler(request)
        except Exception as exc:  # noqa: BLE001 - mapped as the exception middleware would
            response = await self._error_response(request, exc)
        try:
            await response(scope, receive, send)
        except Exception as exc:  # noqa: BLE001 - the client went away mid-answer: no traceback
            log.warning("could not answer %s %s: %s", scope["method"], scope["path"], type(exc).__name__)

    async def _error_response(self, request: Request, exc: Exception) -> Response:
        handlers: dict[Any, ErrorHandler] = self.exception_handlers
        for cls in type(exc).__mro__:
            found = handlers.get(cls)
            if found is not None:
                return await found(request, exc)
        return await handle_unexpected(request, exc)
