"""Device tokens: create (the secret is shown once), list, revoke (CONTRACT section 2)."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import MAX_EPOCH_MS, ok, path_id, read_json_object
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.service import account_user, exists, not_found
from iotcli.emulator.thinger.validation import request_schema

routes = RouteTable("thinger", tag="devices")

TOKENS = "/v1/users/{user}/devices/{device}/tokens"
TOKEN = "/v1/users/{user}/devices/{device}/tokens/{token}"
#: Token ids in paths [source: the server's pattern for the token path parameter].
TOKEN_ID = re.compile(r"^[a-zA-Z0-9_-]{1,50}$")
MAX_NAME = 255
#: Epoch values below this are Unix seconds (up to the year 5138), from it on milliseconds (since
#: March 1973): clients send either [source: issue 10, clients sending seconds], told apart by magnitude.
SECONDS_BELOW = 100_000_000_000


def epoch_ms(value: Any, field: str, now_ms: int) -> int | None:
    """An expiry time given in Unix seconds or milliseconds (see SECONDS_BELOW), as epoch ms.

    Absent, null or 0 = never [chosen]; a time not in the future, or not a number -> 400 naming ``field``.
    """
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ApiProblem(400, f"field '{field}' must be a number (Unix seconds or milliseconds) or null")
    ms = int(value * 1000) if abs(value) < SECONDS_BELOW else int(value)
    if ms <= now_ms:
        raise ApiProblem(400, f"field '{field}' must be in the future (Unix seconds or milliseconds)")
    if ms > MAX_EPOCH_MS:
        raise ApiProblem(400, f"field '{field}' is too far in the future (after the year 9999)")
    return ms


def _expiration(value: Any, now_ms: int) -> int | None:
    """``token_expiration``: when the token stops working, in Unix seconds or milliseconds."""
    return epoch_ms(value, "token_expiration", now_ms)


@routes.post(TOKENS, summary="Create a device token", body=request_schema("post", TOKENS))
async def create_token(request: Request) -> Response:
    """Body ``{"token_name", "token_expiration"?}``; answers ``{"id","name","token"}``.

    The secret is in this answer only: the emulator keeps just its SHA-256.
    """
    emu, _svc, user = await account_user(request)
    device = path_id(request, "device")
    body = await read_json_object(request)
    name = body.get("token_name", "device token")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ApiProblem(400, f"field 'token_name' must be a text of 1-{MAX_NAME} characters")
    now = emu.clock.now_ms()
    expires = _expiration(body.get("token_expiration"), now)

    def write(conn: sqlite3.Connection) -> tuple[str, str, dict[str, Any]]:
        if not exists(conn, "th_devices", "device", user, device):
            raise not_found("device", device)
        tid, secret = emu.auth.issue(
            conn, kind="device", user=user, device=device, name=name, expires_ms=expires
        )
        event = emu.events.stage(
            conn, "device.token_created", {"user": user, "device": device, "token_id": tid, "name": name}
        )
        return tid, secret, event

    tid, secret, event = await emu.store.write(write)
    emu.events.publish(event)
    return ok({"id": tid, "name": name, "token": secret, "expires": expires})


@routes.get(TOKENS, summary="List the tokens of a device (without their secrets)")
async def list_tokens(request: Request) -> Response:
    """Items ``{"id","name","created","expires","last_used"}`` (epoch ms; null = never)."""
    emu, _svc, user = await account_user(request)
    device = path_id(request, "device")

    def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        if not exists(conn, "th_devices", "device", user, device):
            raise not_found("device", device)
        rows = conn.execute(
            "SELECT id, name, created, expires, last_used FROM tokens "
            "WHERE kind = 'device' AND user = ? AND device = ? ORDER BY created, id",
            (user, device),
        ).fetchall()
        return [
            {
                "id": r["id"],
                "name": r["name"],
                "created": r["created"],
                "expires": r["expires"],
                "last_used": r["last_used"],
            }
            for r in rows
        ]

    return ok(await emu.store.read(read))


@routes.delete(
    TOKEN,
    summary="Revoke a device token (at once)",
    params={"token": {"type": "string", "pattern": TOKEN_ID.pattern}},
)
async def delete_token(request: Request) -> Response:
    emu, svc, user = await account_user(request)
    device = path_id(request, "device")
    token_id = str(request.path_params["token"])
    if not TOKEN_ID.match(token_id):
        raise ApiProblem(400, f"invalid token id '{token_id[:64]}': use 1-50 letters, digits, '_' or '-'")

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        if not exists(conn, "th_devices", "device", user, device):
            raise not_found("device", device)
        row = conn.execute(
            "SELECT id, name, created, expires, last_used FROM tokens "
            "WHERE kind = 'device' AND user = ? AND device = ? AND id = ?",
            (user, device, token_id),
        ).fetchone()
        if row is None:
            raise not_found("token", token_id)
        conn.execute(
            "DELETE FROM tokens WHERE kind = 'device' AND user = ? AND device = ? AND id = ?",
            (user, device, token_id),
        )
        event = emu.events.stage(
            conn, "device.token_revoked", {"user": user, "device": device, "token_id": token_id}
        )
        return {k: row[k] for k in ("id", "name", "created", "expires", "last_used")}, event

    data, event = await emu.store.write(write)
    # Revoked at once: neither the authenticator's cache nor the callback's may keep accepting it.
    emu.auth.forget(user, device)
    svc.forget_tokens()
    emu.events.publish(event)
    return ok(data)
