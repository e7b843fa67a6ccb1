"""User access tokens (``/v1/users/{user}/tokens``): their configuration, and the permissions
``emu.auth`` loads for them (``load_grant``).

The create answer carries the token itself (``access_token``, a JWT of the account user with ``jti`` =
the token id): only its SHA-256 is kept, so it is shown in that answer only [chosen].
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.permissions import Grant
from iotcli.emulator.thinger.backend.state import not_found
from iotcli.emulator.thinger.backend.tokens import epoch_ms

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

#: The fields of the configuration a token keeps (besides created/modified).
FIELDS = ("name", "description", "enabled", "allow", "deny", "expire")
#: The fields of a list item (as the real list example).
LISTED = ("created", "enabled", "modified", "name", "token")


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


def _fetch(conn: sqlite3.Connection, user: str, token: str) -> sqlite3.Row:
    row = conn.execute(
        "SELECT token, doc, created, modified FROM th_access_tokens WHERE user = ? AND token = ?",
        (user, token),
    ).fetchone()
    if row is None:
        raise not_found("token", token)
    return row  # type: ignore[no-any-return]


class AccessTokens:
    """The user access token backend (``ThingerBackend.access_tokens``); every change drops the
    authenticator's cached grants of the user."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    async def _commit(
        self, user: str, write: Callable[[sqlite3.Connection], tuple[dict[str, Any], dict[str, Any]]]
    ) -> dict[str, Any]:
        data, event = await self.emu.store.write(write)
        self.emu.auth.forget(user)
        self.emu.events.publish(event)
        return data

    async def create(self, user: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        emu = self.emu
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
                conn,
                kind="access",
                user=user,
                name=doc.get("name"),
                token_id=token,
                expires_ms=doc.get("expire"),
            )
            event = emu.events.stage(conn, "user.token_created", {"user": user, "token": token})
            return {**token_object(_fetch(conn, user, token)), "access_token": secret}, event

        return await self._commit(user, write)

    async def all(self, user: str) -> list[dict[str, Any]]:
        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute(
                "SELECT token, doc, created, modified FROM th_access_tokens WHERE user = ? ORDER BY token",
                (user,),
            ).fetchall()
            return [{k: full[k] for k in LISTED if k in full} for full in map(token_object, rows)]

        return await self.emu.store.read(read)

    async def read(self, user: str, token: str) -> dict[str, Any]:
        return await self.emu.store.read(lambda conn: token_object(_fetch(conn, user, token)))

    async def update(self, user: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
        """Partial update: ``name``, ``description``, ``enabled``, ``allow``, ``deny``, ``expire`` (0 or
        null: never). Takes effect on the next request that uses the token."""
        emu = self.emu
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

        return await self._commit(user, write)

    async def delete(self, user: str, token: str) -> dict[str, Any]:
        emu = self.emu

        def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
            data = token_object(_fetch(conn, user, token))
            conn.execute("DELETE FROM th_access_tokens WHERE user = ? AND token = ?", (user, token))
            conn.execute("DELETE FROM tokens WHERE kind = 'access' AND user = ? AND id = ?", (user, token))
            event = emu.events.stage(conn, "user.token_deleted", {"user": user, "token": token})
            return data, event

        return await self._commit(user, write)
