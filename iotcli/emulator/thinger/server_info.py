"""The small routes real clients call at start-up or login, before any resource route.

- ``GET /v1/server/healthcheck``, ``GET /v1/server/assets``: no token (the OpenAPI lists no security).
- ``GET /v1/server/version``: a token.
- ``GET /v1/users/{user}`` (the Node-RED editor reads ``role``) and ``GET /v1/users`` (the n8n node's
  credential test).

The OpenAPI documents these answers as JSON objects without their fields; the fields served are the ones
the real clients read [source: thinger-io/node-red-contrib-thinger nodes/thinger-server.js,
nodes/asset-iterator.js, static/js/assets.js, static/js/user.js; thinger-io/n8n-nodes-thinger
credentials/ThingerTokenApi.credentials.ts], the rest is [chosen].
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli import __version__
from iotcli.emulator.http import ok
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.parse import account_user, backend_of

routes = RouteTable("thinger", tag="server")

#: The assets the emulator serves, as ``/v1/server/assets`` lists them: ``paths.list`` is what the
#: Node-RED asset iterator fills the user into (its regex ``\(\?<user>[^)]+\)``) and appends to
#: ``<host>/`` [source: nodes/asset-iterator.js]; ``role: "user"`` makes its older server node list them
#: under ``/v1/users/{user}/`` [source: nodes/thinger-server.js iterateAssets].
ASSETS = [("bucket", "buckets"), ("device", "devices"), ("endpoint", "endpoints"), ("token", "tokens")]


def _assets() -> list[dict[str, Any]]:
    return [
        {
            "asset": asset,
            "role": "user",
            "paths": {
                "list": f"v1/users/(?<user>[^/]+)/{plural}",
                "item": f"v1/users/(?<user>[^/]+)/{plural}/",
            },
        }
        for asset, plural in ASSETS
    ]


def _user_object(user: str) -> dict[str, Any]:
    return {"user": user, "role": "user", "enabled": True, "verified": True}


@routes.get("/v1/server/healthcheck", summary="Is the server up (no token)", auth=False)
async def healthcheck(request: Request) -> Response:
    return ok({"status": "ok"})


@routes.get("/v1/server/version", summary="The server's version")
async def version(request: Request) -> Response:
    await backend_of(request).emu.auth.principal(request)
    return ok({"version": __version__, "server": "iotcli-emulator"})


@routes.get(
    "/v1/server/assets", summary="The kinds of asset the server has, and where to list them", auth=False
)
async def assets(request: Request) -> Response:
    return ok(_assets())


@routes.get("/v1/users/{user}", summary="The user's account (role...)")
async def read_user(request: Request) -> Response:
    _th, user = await account_user(request)
    return ok(_user_object(user))


@routes.get("/v1/users", summary="The users this token sees: the account")
async def list_users(request: Request) -> Response:
    principal = await backend_of(request).emu.auth.account(request)
    return ok([_user_object(principal.user)])
