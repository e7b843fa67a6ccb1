"""User access tokens: ``/v1/users/{user}/tokens`` and ``.../tokens/{token}`` [source: the real OpenAPI].

Bodies are checked by the real server's schemas (``token`` ``^[a-zA-Z0-9_]{1,50}$``, ``name``,
``enabled`` required on create; ``allow``/``deny`` permissions, ``description``, ``expire``). The
create answer carries the token itself (``access_token``, a JWT of the account user with ``jti`` = the
token id): only its SHA-256 is kept, so it is shown in that answer only [chosen]. What a token may do is
checked by ``emu.auth`` for every request (``iotcli/emulator/permissions.py``); a disabled token or one
past ``expire`` is a 401.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import ok, query_int, read_json
from iotcli.emulator.permissions import Grant
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.documents import commit
from iotcli.emulator.thinger.service import account_user, not_found
from iotcli.emulator.thinger.tokens import epoch_ms
from iotcli.emulator.thinger.validation import request_schema, validate

routes = RouteTable("thinger", tag="tokens")

TOKENS = "/v1/users/{user}/tokens"
TOKEN = "/v1/users/{user}/tokens/{token}"
#: Token ids in paths [source: the server's pattern for the token path parameter].
TOKEN_ID = re.compile(r"^[a-zA-Z0-9_-]{1,50}$")
#: The fields of the configuration a token keeps (besides created/modified).
FIELDS = ("name", "description", "enabled", "allow", "deny", "expire")


def load_grant(conn: sqlite3.Connection, user: str, token: str) -> Grant | None:
    """The permissions of an enabled access token (None: disabled or gone): ``emu.auth``'s loader."""
    row = conn.execute(
        "SELECT doc FROM th_access_tokens WHERE user = ? AND token = ?", (user, token)
    ).fetchone()
    if row is None:
        return None
    doc = json.loads(row["doc"])
    if not doc.get("enabled", True):
        return None
    return Grant(doc.get("allow") or {}, doc.get("deny") or None)


def token_object(row: sqlite3.Row) -> dict[str, Any]:
    doc = json.loads(row["doc"])
    out: dict[str, Any] = {"token": row["token"]}
    out.update({k: doc[k] for k in FIELDS if k in doc})
    out["created"] = row["created"]
    out["modified"] = row["modified"]
    return out


def _token_id(request: Request) -> str:
    token = str(request.path_params["token"])
    if not TOKEN_ID.match(token):
        raise ApiProblem(400, f"invalid token id '{token[:64]}': use 1-50 letters, digits, '_' or '-'")
    return token


def _fetch(conn: sqlite3.Connection, user: str, token: str) -> sqlite3.Row:
    row = conn.execute(
        "SELECT token, doc, created, modified FROM th_access_tokens WHERE user = ? AND token = ?",
        (user, token),
    ).fetchone()
    if row is None:
        raise not_found("token", token)
    return row  # type: ignore[no-any-return]


@routes.post(TOKENS, summary="Create a user access token", body=request_schema("post", TOKENS))
async def create_token(request: Request) -> Response:
    """Body ``{"token","name","enabled","allow"?,"deny"?,"description"?,"expire"?}``; the answer adds
    ``access_token`` (shown once), ``created`` and ``modified``."""
    emu, _svc, user = await account_user(request)
    body = await read_json(request)
    validate("post", TOKENS, body)
    token = str(body["token"])
    now = emu.clock.now_ms()
    doc = {k: body[k] for k in FIELDS if k in body}
    if "expire" in doc:
        doc["expire"] = epoch_ms(doc["expire"], "expire", now)

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        if conn.execute(
            "SELECT 1 FROM th_access_tokens WHERE user = ? AND token = ?", (user, token)
        ).fetchone():
            raise ApiProblem(400, f"token '{token}' already exists")
        conn.execute(
            "INSERT INTO th_access_tokens(user, token, doc, created, modified) VALUES (?,?,?,?,?)",
            (user, token, json.dumps(doc), now, now),
        )
        _tid, secret = emu.auth.issue(
            conn, kind="access", user=user, name=doc.get("name"), token_id=token, expires_ms=doc.get("expire")
        )
        event = emu.events.stage(conn, "user.token_created", {"user": user, "token": token})
        return {**token_object(_fetch(conn, user, token)), "access_token": secret}, event

    return await commit(emu, write, lambda: emu.auth.forget(user))


@routes.get(
    TOKENS,
    summary="List the user access tokens (without the tokens themselves)",
    query={
        "name": "only tokens whose id or name contains this text (case-insensitive)",
        "count": "at most this many tokens",
        "index": "skip this many tokens first (offset)",
    },
)
async def list_tokens(request: Request) -> Response:
    """Items ``{"token","name","enabled","created","modified"}`` (as the real list example), by id."""
    emu, _svc, user = await account_user(request)
    name = (request.query_params.get("name") or "").lower()
    count = query_int(request, "count", None, minimum=0)
    index = query_int(request, "index", 0, minimum=0) or 0

    def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        rows = conn.execute(
            "SELECT token, doc, created, modified FROM th_access_tokens WHERE user = ? ORDER BY token",
            (user,),
        ).fetchall()
        items = []
        for row in rows:
            full = token_object(row)
            item: dict[str, Any] = {
                k: full[k] for k in ("created", "enabled", "modified", "name", "token") if k in full
            }
            if not name or name in item["token"].lower() or name in str(item.get("name") or "").lower():
                items.append(item)
        end = None if count is None else index + count
        return items[index:end]

    return ok(await emu.store.read(read))


@routes.get(TOKEN, summary="Read a user access token's configuration", params={"token": {"type": "string"}})
async def read_token(request: Request) -> Response:
    emu, _svc, user = await account_user(request)
    token = _token_id(request)
    return ok(await emu.store.read(lambda conn: token_object(_fetch(conn, user, token))))


@routes.put(
    TOKEN,
    summary="Update a user access token (the fields given)",
    body=request_schema("put", TOKEN),
    params={"token": {"type": "string"}},
)
async def update_token(request: Request) -> Response:
    """Partial update: ``name``, ``description``, ``enabled``, ``allow``, ``deny``, ``expire`` (0 or null:
    never). Takes effect on the next request that uses the token."""
    emu, _svc, user = await account_user(request)
    token = _token_id(request)
    body = await read_json(request)
    if isinstance(body, dict) and "token" in body:
        # The OpenAPI's own "Full Update" example repeats the id, which its schema does not list: the
        # same id is accepted, another one cannot be set [chosen].
        if body["token"] != token:
            raise ApiProblem(400, "field 'token' cannot be changed (it is the token's id)")
        body = {k: v for k, v in body.items() if k != "token"}
    validate("put", TOKEN, body)
    now = emu.clock.now_ms()
    changes = {k: body[k] for k in FIELDS if k in body}
    if "expire" in changes:
        changes["expire"] = epoch_ms(changes["expire"], "expire", now)

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        doc = json.loads(_fetch(conn, user, token)["doc"])
        doc.update(changes)
        if doc.get("expire") is None:
            doc.pop("expire", None)
        conn.execute(
            "UPDATE th_access_tokens SET doc = ?, modified = ? WHERE user = ? AND token = ?",
            (json.dumps(doc), now, user, token),
        )
        conn.execute(
            "UPDATE tokens SET expires = ?, name = ? WHERE kind = 'access' AND user = ? AND id = ?",
            (doc.get("expire"), doc.get("name"), user, token),
        )
        event = emu.events.stage(conn, "user.token_updated", {"user": user, "token": token})
        return token_object(_fetch(conn, user, token)), event

    return await commit(emu, write, lambda: emu.auth.forget(user))


@routes.delete(
    TOKEN, summary="Delete a user access token (revoked at once)", params={"token": {"type": "string"}}
)
async def delete_token(request: Request) -> Response:
    emu, _svc, user = await account_user(request)
    token = _token_id(request)

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        data = token_object(_fetch(conn, user, token))
        conn.execute("DELETE FROM th_access_tokens WHERE user = ? AND token = ?", (user, token))
        conn.execute("DELETE FROM tokens WHERE kind = 'access' AND user = ? AND id = ?", (user, token))
        event = emu.events.stage(conn, "user.token_deleted", {"user": user, "token": token})
        return data, event

    return await commit(emu, write, lambda: emu.auth.forget(user))
