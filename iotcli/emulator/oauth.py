"""OAuth token routes of both surfaces.

Thinger-style password grant at ``/oauth/token`` (username = account user, password = account
token [chosen]) and IoT Flow-style client-credentials grant at ``/iot-flow/v1/oauth/token``
(client_id = account user, client_secret = account token [chosen]). Issued tokens expire on the
emulator clock.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

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
        "required": ["grant_type", "client_id", "client_secret"],
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
    for key in ("client_id", "client_secret"):
        if not form.get(key):
            raise ApiProblem(400, f"missing form field '{key}'")
    if not emu.auth.check_password(form["client_id"], form["client_secret"]):
        raise ApiProblem(401, "bad client_id or client_secret")
    user = emu.settings.user
    _tid, access = await emu.store.write(
        lambda conn: emu.auth.issue(conn, kind="iotflow", user=user, name="access", ttl_seconds=ACCESS_TTL)
    )
    return ok(
        {"access_token": access, "token_type": "bearer", "expires_in": ACCESS_TTL, "scope": "connections"}
    )
