"""User access token routes: ``/v1/users/{user}/tokens`` and ``.../tokens/{token}`` [source: the real OpenAPI].

Bodies are checked by the real server's schemas (``token`` ``^[a-zA-Z0-9_]{1,50}$``, ``name``,
``enabled`` required on create; ``allow``/``deny`` permissions, ``description``, ``expire``). The
create answer carries the token itself (``access_token``, a JWT of the account user with ``jti`` = the
token id): only its SHA-256 is kept, so it is shown in that answer only [chosen]. What a token may do is
checked by ``emu.auth`` for every request (``iotcli/emulator/permissions.py``); a disabled token or one
past ``expire`` is a 401.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import ok, read_json
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.parse import account_user, list_filter, list_query
from iotcli.emulator.thinger.tokens import TOKEN_PARAM, token_id
from iotcli.emulator.thinger.validation import request_schema, validate

routes = RouteTable("thinger", tag="tokens")

TOKENS = "/v1/users/{user}/tokens"
TOKEN = "/v1/users/{user}/tokens/{token}"


@routes.post(TOKENS, summary="Create a user access token", body=request_schema("post", TOKENS))
async def create_token(request: Request) -> Response:
    """Body ``{"token","name","enabled","allow"?,"deny"?,"description"?,"expire"?}``; the answer adds
    ``access_token`` (shown once), ``created`` and ``modified``."""
    th, user = await account_user(request)
    body = await read_json(request)
    validate("post", TOKENS, body)
    return ok(await th.access_tokens.create(user, str(body["token"]), body))


@routes.get(
    TOKENS,
    summary="List the user access tokens (without the tokens themselves)",
    query=list_query("tokens"),
)
async def list_tokens(request: Request) -> Response:
    """Items ``{"token","name","enabled","created","modified"}`` (as the real list example), by id."""
    th, user = await account_user(request)
    keep = list_filter(request, "token")
    return ok(keep(await th.access_tokens.all(user)))


@routes.get(TOKEN, summary="Read a user access token's configuration", params=TOKEN_PARAM)
async def read_token(request: Request) -> Response:
    th, user = await account_user(request)
    return ok(await th.access_tokens.read(user, token_id(request)))


@routes.put(
    TOKEN,
    summary="Update a user access token (the fields given)",
    body=request_schema("put", TOKEN),
    params=TOKEN_PARAM,
)
async def update_token(request: Request) -> Response:
    """Partial update: ``name``, ``description``, ``enabled``, ``allow``, ``deny``, ``expire`` (0 or null:
    never). Takes effect on the next request that uses the token."""
    th, user = await account_user(request)
    token = token_id(request)
    body = await read_json(request)
    if isinstance(body, dict) and "token" in body:
        # The OpenAPI's own "Full Update" example repeats the id, which its schema does not list: the
        # same id is accepted, another one cannot be set [chosen].
        if body["token"] != token:
            raise ApiProblem(400, "field 'token' cannot be changed (it is the token's id)")
        body = {k: v for k, v in body.items() if k != "token"}
    validate("put", TOKEN, body)
    return ok(await th.access_tokens.update(user, token, body))


@routes.delete(TOKEN, summary="Delete a user access token (revoked at once)", params=TOKEN_PARAM)
async def delete_token(request: Request) -> Response:
    th, user = await account_user(request)
    return ok(await th.access_tokens.delete(user, token_id(request)))
