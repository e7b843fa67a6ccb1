"""What the thinger routes share to read a request: the backend, whose account, the list query."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from iotcli.emulator.http import path_id, query_int
from iotcli.emulator.thinger.backend import ThingerBackend

#: The list query of devices, buckets, endpoints and tokens (clients page with
#: ``?name=&count=50&index=N``) [source: thinger-io/node-red-contrib-thinger nodes/thinger-server.js].
LIST_QUERY: dict[str, str | dict[str, Any]] = {
    "name": "only items whose id or name contains this text (case-insensitive)",
    "count": "at most this many items",
    "index": "skip this many items first (offset)",
}


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
