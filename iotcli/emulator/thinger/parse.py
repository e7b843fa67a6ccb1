"""What the thinger routes share to read a request: the backend, whose account, the list query."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from iotcli.emulator.http import INT64_MAX, MAX_EPOCH_MS, path_id, query_int
from iotcli.emulator.thinger.backend import ThingerBackend


def integer(description: str, minimum: int = 0, maximum: int = INT64_MAX) -> dict[str, Any]:
    """A query parameter the route reads with ``query_int``, declared as strictly (the OpenAPI document)."""
    return {"type": "integer", "minimum": minimum, "maximum": maximum, "description": description}


def epoch_ms(description: str) -> dict[str, Any]:
    """An epoch-ms query parameter (``0`` = none or now, as its description says)."""
    return integer(description, 0, MAX_EPOCH_MS)


def list_query(what: str) -> dict[str, str | dict[str, Any]]:
    """The list query (clients page with ``?name=&count=50&index=N``) [source:
    thinger-io/node-red-contrib-thinger nodes/thinger-server.js]."""
    return {
        "name": f"only {what} whose id or name contains this text (case-insensitive)",
        "count": integer(f"at most this many {what}"),
        "index": integer(f"skip this many {what} first (offset)"),
    }


#: The list query of buckets and endpoints.
LIST_QUERY = list_query("items")


def backend_of(request: Request) -> ThingerBackend:
    backend: ThingerBackend = request.app.state.emu.services["thinger"]
    return backend


async def account_user(request: Request) -> tuple[ThingerBackend, str]:
    """Check the ``user`` path id and that the caller is that account; returns (backend, user)."""
    backend = backend_of(request)
    user = path_id(request, "user")
    await backend.emu.auth.account(request, user)
    return backend, user


def list_filter(request: Request, key: str) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    """``name``, ``count`` and ``index`` of a list request (checked now), as a function over the list."""
    name = (request.query_params.get("name") or "").lower()
    count = query_int(request, "count", None, minimum=0)
    index = query_int(request, "index", 0, minimum=0) or 0

    def keep(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if name:
            items = [
                i for i in items if name in str(i[key]).lower() or name in str(i.get("name") or "").lower()
            ]
        end = None if count is None else index + count
        return items[index:end]

    return keep
