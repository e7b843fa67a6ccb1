"""OAuth token routes of both surfaces.

Thinger-style password and refresh_token grants at ``/oauth/token`` (username = account user,
password = account token [chosen]) and IoT Flow-style client-credentials grant at ``/iot-flow/v1/oauth/token``
(client_id = account user, or ``<instance>/<user>``; client_secret = account token [chosen]), with the
credentials in the form or in an HTTP Basic Authorization header. Issued tokens expire on the
emulator clock.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.admin import emu_of
from iotcli.emulator.auth import hash_token
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import ok, parse_json_bytes
from iotcli.emulator.routing import RouteTable

routes = RouteTable("auth", tag="auth")

ACCESS_TTL = 3600  # seconds of emulator time
#: Thinger access tokens last 7200 s [source: the real server's expires_in]; refresh tokens 30 days [chosen].
THINGER_ACCESS_TTL = 7200
REFRESH_TTL = 30 * 86400
FORM = "application/x-www-form-urlencoded"


def _media_type(request: Request) -> str:
    """The body's media type without its parameters, lower-cased: type and subtype are case-insensitive
    and may be followed by spaces before ``;`` (RFC 9110 section 8.3.1)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _form(request: Request) -> dict[str, str]:
    ctype = request.headers.get("content-type", "")
    if not _media_type(request).startswith(FORM):
        raise ApiProblem(400, f"expected a form body ({FORM}), got '{ctype or 'none'}'")
    raw = await request.body()
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise ApiProblem(400, "form body is not valid UTF-8") from None
    return dict(pairs)


@routes.post(
    "/oauth/token",
    summary="Thinger login: password grant (username = account user, password = account token) or "
    "refresh_token grant (the refresh token rotates); form or JSON body",
    auth=False,
    body_type=FORM,
    body={
        # One form per grant, each with the fields it needs (the handler refuses a grant without them).
        "oneOf": [
            {
                "type": "object",
                "required": ["grant_type", "username", "password"],
                "properties": {
                    "grant_type": {"const": "password"},
                    "username": {"type": "string", "minLength": 1},
                    "password": {"type": "string", "minLength": 1},
                },
            },
            {
                "type": "object",
                "required": ["grant_type", "refresh_token"],
                "properties": {
                    "grant_type": {"const": "refresh_token"},
                    "refresh_token": {"type": "string", "minLength": 1},
                },
            },
        ],
    },
)
async def thinger_token(request: Request) -> Response:
    """``{"access_token","expires_in":7200,"refresh_token","scope":null,"token_type":"bearer"}`` [source].

    A refresh token works once: the answer carries a new one and the old one stops working [source].
    Access and refresh tokens are JWTs of the account user.
    """
    emu = emu_of(request)
    body = await _thinger_body(request)
    grant = body.get("grant_type")
    user = emu.settings.user
    if grant == "password":
        for key in ("username", "password"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise ApiProblem(400, f"missing field '{key}'")
        if not emu.auth.check_password(body["username"], body["password"]):
            raise ApiProblem(401, "bad username or password")
        old_refresh = None
    elif grant == "refresh_token":
        old_refresh = body.get("refresh_token")
        if not isinstance(old_refresh, str) or not old_refresh:
            raise ApiProblem(400, "missing field 'refresh_token'")
    else:
        raise ApiProblem(400, "field 'grant_type' must be 'password' or 'refresh_token'")
    now = emu.clock.now_ms()

    def issue(conn: sqlite3.Connection) -> tuple[str, str]:
        if old_refresh is not None:
            # Used once: deleted in the same transaction that issues its successor (rotation).
            gone = conn.execute(
                "DELETE FROM tokens WHERE hash = ? AND kind = 'refresh' AND user = ? "
                "AND (expires IS NULL OR expires > ?)",
                (hash_token(old_refresh), user, now),
            ).rowcount
            if not gone:
                raise ApiProblem(401, "invalid or expired refresh token")
        access = emu.auth.issue(conn, kind="oauth", user=user, name="access", ttl_seconds=THINGER_ACCESS_TTL)
        refresh = emu.auth.issue(conn, kind="refresh", user=user, name="refresh", ttl_seconds=REFRESH_TTL)
        return access[1], refresh[1]

    access, refresh = await emu.store.write(issue)
    return ok(
        {
            "access_token": access,
            "expires_in": THINGER_ACCESS_TTL,
            "refresh_token": refresh,
            "scope": None,
            "token_type": "bearer",
        }
    )


async def _thinger_body(request: Request) -> dict[str, Any]:
    """The Thinger token request: a form (the console's) or a JSON object (the OpenAPI's) [source]."""
    ctype = request.headers.get("content-type", "")
    media = _media_type(request)
    if media.startswith("application/json"):
        body = parse_json_bytes(await request.body())
        if not isinstance(body, dict):
            raise ApiProblem(400, "body must be a JSON object")
        return body
    if not media.startswith(FORM):
        raise ApiProblem(400, f"expected a form ({FORM}) or JSON body, got '{ctype or 'none'}'")
    return dict(await _form(request))


@routes.post(
    "/iot-flow/v1/oauth/token",
    summary="Client-credentials grant: client_id = account user, client_secret = account token",
    auth=False,
    body_type=FORM,
    body={
        "type": "object",
        # client_id and client_secret: here, or in an HTTP Basic Authorization header.
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"const": "client_credentials"},
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"},
        },
    },
)
async def client_credentials_token(request: Request) -> Response:
    emu = emu_of(request)
    form = await _form(request)
    if form.get("grant_type") != "client_credentials":
        raise ApiProblem(400, "grant_type must be 'client_credentials'")
    client_id, client_secret, basic = _client_credentials(request, form)
    if not emu.auth.check_password(_login(client_id), client_secret):
        # RFC 6749 section 5.2: a client that authenticated with the Authorization header gets 401
        # with WWW-Authenticate.
        headers = {"WWW-Authenticate": 'Basic realm="iot-flow"'} if basic else None
        raise ApiProblem(401, "bad client_id or client_secret", headers=headers)
    user = emu.settings.user
    _tid, access = await emu.store.write(
        lambda conn: emu.auth.issue(conn, kind="iotflow", user=user, name="access", ttl_seconds=ACCESS_TTL)
    )
    return ok(
        {"access_token": access, "token_type": "bearer", "expires_in": ACCESS_TTL, "scope": "connections"}
    )


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str, bool]:
    """``(client_id, client_secret, from_basic)``: HTTP Basic client authentication or the form fields
    (RFC 6749 section 2.3.1; clients of the real server use either). Both at once is a 400: "the client
    MUST NOT use more than one authentication method in each request" (section 2.3)."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        for key in ("client_id", "client_secret"):
            if not form.get(key):
                raise ApiProblem(400, f"missing form field '{key}' (or HTTP Basic client authentication)")
        return form["client_id"], form["client_secret"], False
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ApiProblem(
            400, "the Basic Authorization header is not base64 of 'client_id:client_secret'"
        ) from None
    raw_id, sep, raw_secret = decoded.partition(":")
    # Section 2.3.1: both are form-urlencoded before they are joined.
    client_id, client_secret = unquote_plus(raw_id), unquote_plus(raw_secret)
    if not sep or not client_id or not client_secret:
        raise ApiProblem(400, "the Basic Authorization header is not base64 of 'client_id:client_secret'")
    if form.get("client_secret"):
        raise ApiProblem(400, "client credentials sent twice (Basic header and form): use one method")
    if form.get("client_id") and form["client_id"] != client_id:
        raise ApiProblem(400, "form field 'client_id' does not match the Basic Authorization header")
    return client_id, client_secret, True


def _login(client_id: str) -> str:
    """The account user of a client_id. The real platform's client ids are '<instance>/<login>'
    (e.g. ``fuota-labs-api/john.doe@actility.com``, docs/Getting_Started/Getting_Started_ThingPark/
    README.md in actility/tpx-iot-flow-doc): the part after the last '/' is the login."""
    return client_id.rsplit("/", 1)[-1]
