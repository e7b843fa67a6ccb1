"""Route tables: each surface declares its routes once, with what the OpenAPI document needs.

A route module creates a ``RouteTable`` and decorates plain Starlette handlers::

    routes = RouteTable("thinger", tag="devices")

    @routes.post("/v1/users/{user}/devices", summary="Create a device", body=schema("DeviceCreate"))
    async def create_device(request: Request) -> Response: ...

``create_app`` mounts every table; ``/_emulator/openapi.json`` is generated from the same tables,
so the document cannot drift from the code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class RouteSpec:
    method: str
    path: str
    handler: Handler
    summary: str
    surface: str
    tag: str
    auth: bool = True
    body: dict[str, Any] | None = None  # JSON Schema of the request body
    body_type: str = "application/json"
    status: int = 200
    #: name -> description, or a JSON Schema of the parameter (with its "description"), as strict as the handler.
    #: A keyword's value may be a function without arguments, called when the OpenAPI document is built
    #: (an ``enum`` that is costly to list, e.g. the tz database's names).
    query: dict[str, str | dict[str, Any]] = field(default_factory=dict)
    responses: dict[int, str] = field(default_factory=dict)  # extra status -> description
    #: JSON Schema of a path parameter when it is not an id (``^[a-zA-Z0-9_-]{1,32}$``), e.g. a number or uuid.
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Served the short way through the ASGI stack (``hotpath.py``): only the routes that carry the load.
    hot: bool = False


class RouteTable:
    def __init__(self, surface: str, tag: str) -> None:
        self.surface = surface
        self.tag = tag
        self.specs: list[RouteSpec] = []

    def route(self, method: str, path: str, *, summary: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.specs.append(
                RouteSpec(
                    method.upper(),
                    path,
                    handler,
                    summary,
                    self.surface,
                    kwargs.pop("tag", self.tag),
                    **kwargs,
                )
            )
            return handler

        return register

    def get(self, path: str, *, summary: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, summary=summary, **kwargs)

    def post(self, path: str, *, summary: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, summary=summary, **kwargs)

    def put(self, path: str, *, summary: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, summary=summary, **kwargs)

    def patch(self, path: str, *, summary: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, summary=summary, **kwargs)

    def delete(self, path: str, *, summary: str, **kwargs: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, summary=summary, **kwargs)


def starlette_routes(tables: list[RouteTable]) -> list[Route]:
    """One Starlette Route per path, dispatching on method (so 405 is answered for the others)."""
    by_path: dict[str, dict[str, Handler]] = {}
    order: list[str] = []
    for table in tables:
        for spec in table.specs:
            if spec.path not in by_path:
                by_path[spec.path] = {}
                order.append(spec.path)
            if spec.method in by_path[spec.path]:
                raise ValueError(f"route declared twice: {spec.method} {spec.path}")
            by_path[spec.path][spec.method] = spec.handler
    return [Route(path, _dispatch(by_path[path]), methods=list(by_path[path])) for path in order]


def _dispatch(handlers: dict[str, Handler]) -> Handler:
    if len(handlers) == 1:
        return next(iter(handlers.values()))

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return dispatch
