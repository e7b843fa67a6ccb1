"""OAuth token routes of both surfaces.

Thinger-style password grant at ``/oauth/token`` (username = account user, password = account
token [chosen]) and IoT Flow-style client-credentials grant at ``/iot-flow/v1/oauth/token``
(client_id = account user, or ``<instance>/<user>``; client_secret = account token [chosen]), with the
credentials in the form or in an HTTP Basic Authorization header. Issued tokens expire on the
emulator clock.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.admin import emu_of
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import ok
from iotcli.emulator.routing import RouteTable

routes = RouteTable("auth", tag="auth")

ACCESS_TTL = 3600  # seconds of emulator time
FORM = "application/x-www-form-urlencoded"


async def _form(request: Request) -> dict[str, str]:
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith(FORM):
        raise ApiProblem(400, f"expected a form body ({FORM}), got '{ctype or 'none'}'")
    raw = await request.body()
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise ApiProblem(400, "form body is not valid UTF-8") from None
    return dict(pairs)


@routes.post(
    "/oauth/token",
    summary="Password grant: username = account user, password = account token",
    auth=False,
    body_type=FORM,
    body={
        "type": "object",
        "required": ["grant_type", "username", "password"],
        "properties": {
            "grant_type": {"const": "password"},
            "username": {"type": "string"},
            "password": {"type": "string"},
        },
    },
)
async def password_token(request: Request) -> Response:
    emu = emu_of(request)
    form = await _form(request)
    if form.get("grant_type") != "password":
        raise ApiProblem(400, "grant_type must be 'password'")
    for key in ("username", "password"):
        if not form.get(key):
            raise ApiProblem(400, f"missing form field '{key}'")
    if not emu.auth.check_password(form["username"], form["password"]):
        raise ApiProblem(401, "bad username or password")
    user = emu.settings.user

    def issue(conn):  # type: ignore[no-untyped-def]
        access = emu.auth.issue(conn, kind="oauth", user=user, name="access", ttl_seconds=ACCESS_TTL)
        refresh = emu.auth.issue(conn, kind="refresh", user=user, name="refresh", ttl_seconds=30 * 86400)
        return access[1], refresh[1]

    access, refresh = await emu.store.write(issue)
    return ok(
        {
            "access_token": access,
            "expires_in": ACCESS_TTL,
            "refresh_token": refresh,
            "scope": "",
            "token_type": "bearer",
        }
    )


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
