"""Device tokens: create (the secret is shown once), list, revoke (CONTRACT section 2)."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import MAX_EPOCH_MS
from iotcli.emulator.thinger.backend.state import Caches, not_found, require_device

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

#: Epoch values below this are Unix seconds (up to the year 5138), from it on milliseconds (since
#: March 1973): clients send either [source: issue 10, clients sending seconds], told apart by magnitude.
SECONDS_BELOW = 100_000_000_000
SHOWN = ("id", "name", "created", "expires", "last_used")


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


class DeviceTokens:
    """The device token backend (``ThingerBackend.device_tokens``)."""

    def __init__(self, emu: Emulator, caches: Caches) -> None:
        self.emu = emu
        self.caches = caches

    async def create(self, user: str, device: str, name: str, expiration: Any) -> dict[str, Any]:
        """``{"id","name","token","expires"}``; ``expiration`` (``token_expiration``) in Unix seconds or
        milliseconds. The secret is in this answer only: the emulator keeps just its SHA-256."""
        emu = self.emu
        now = emu.clock.now_ms()
        expires = epoch_ms(expiration, "token_expiration", now)

        def write(conn: sqlite3.Connection) -> tuple[str, str, dict[str, Any]]:
            require_device(conn, user, device)
            tid, secret = emu.auth.issue(
                conn, kind="device", user=user, device=device, name=name, expires_ms=expires
            )
            event = emu.events.stage(
                conn, "device.token_created", {"user": user, "device": device, "token_id": tid, "name": name}
            )
            return tid, secret, event

        tid, secret, event = await emu.store.write(write)
        emu.events.publish(event)
        return {"id": tid, "name": name, "token": secret, "expires": expires}

    async def all(self, user: str, device: str) -> list[dict[str, Any]]:
        """Items ``{"id","name","created","expires","last_used"}`` (epoch ms; null = never)."""

        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            require_device(conn, user, device)
            rows = conn.execute(
                "SELECT id, name, created, expires, last_used FROM tokens "
                "WHERE kind = 'device' AND user = ? AND device = ? ORDER BY created, id",
                (user, device),
            ).fetchall()
            return [{k: r[k] for k in SHOWN} for r in rows]

        return await self.emu.store.read(read)

    async def revoke(self, user: str, device: str, token_id: str) -> dict[str, Any]:
        """Revoked at once: neither the authenticator's cache nor the callback's keeps accepting it."""
        emu = self.emu

        def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
            require_device(conn, user, device)
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
            return {k: row[k] for k in SHOWN}, event

        data, event = await emu.store.write(write)
        emu.auth.forget(user, device)
        self.caches.callback_tokens.clear()
        emu.events.publish(event)
        return data
