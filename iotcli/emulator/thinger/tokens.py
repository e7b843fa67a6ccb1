"""Device token routes: create (the secret is shown once), list, revoke (CONTRACT section 2)."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import ok, path_id, read_json_object
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.parse import account_user

routes = RouteTable("thinger", tag="devices")

TOKENS = "/v1/users/{user}/devices/{device}/tokens"
TOKEN = "/v1/users/{user}/devices/{device}/tokens/{token}"
#: Token ids in paths [source: the server's pattern for the token path parameter].
TOKEN_ID = re.compile(r"^[a-zA-Z0-9_-]{1,50}$")
MAX_NAME = 255
#: The ``{token}`` path parameter, as the OpenAPI document declares it.
TOKEN_PARAM = {"token": {"type": "string", "pattern": TOKEN_ID.pattern}}
#: The create body as strict as the route: the real schema says only "an object" [chosen: what the
#: route refuses, the document does not call valid; an expiry must also be in the future].
CREATE_BODY = {
    "type": "object",
    "properties": {
        "token_name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME, "pattern": "\\S"},
        "token_expiration": {
            "type": ["number", "null"],
            "description": "when the token stops working: Unix seconds or milliseconds, in the future; "
            "0 or null = never",
        },
    },
}


def token_id(request: Request) -> str:
    """The ``{token}`` path id (400 unless 1-50 letters, digits, '_' or '-')."""
    token = str(request.path_params["token"])
    if not TOKEN_ID.fullmatch(token):
        raise ApiProblem(400, f"invalid token id '{token[:64]}': use 1-50 letters, digits, '_' or '-'")
    return token


@routes.post(TOKENS, summary="Create a device token", body=CREATE_BODY)
async def create_token(request: Request) -> Response:
    """Body ``{"token_name", "token_expiration"?}``; answers ``{"id","name","token"}``.

    The secret is in this answer only: the emulator keeps just its SHA-256.
    """
    th, user = await account_user(request)
    device = path_id(request, "device")
    body = await read_json_object(request)
    name = body.get("token_name", "device token")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ApiProblem(400, f"field 'token_name' must be a text of 1-{MAX_NAME} characters")
    return ok(await th.device_tokens.create(user, device, name, body.get("token_expiration")))


@routes.get(TOKENS, summary="List the tokens of a device (without their secrets)")
async def list_tokens(request: Request) -> Response:
    """Items ``{"id","name","created","expires","last_used"}`` (epoch ms; null = never)."""
    th, user = await account_user(request)
    return ok(await th.device_tokens.all(user, path_id(request, "device")))


@routes.delete(
    TOKEN,
    summary="Revoke a device token (at once)",
    params=TOKEN_PARAM,
)
async def delete_token(request: Request) -> Response:
    th, user = await account_user(request)
    device = path_id(request, "device")
    return ok(await th.device_tokens.revoke(user, device, token_id(request)))
