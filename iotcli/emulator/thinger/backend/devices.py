"""Devices: create, list, read, update, delete, connection statistics (CONTRACT section 2)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from iotcli.emulator.auth import hash_token
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.thinger.backend.state import Caches, not_found, timeout_ms
from iotcli.emulator.thinger.backend.timeouts import ConnectionMonitor

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

Event = dict[str, Any]

#: Fields of a device the API shows, in this order.
FIELDS = ("name", "description", "enabled", "asset_type", "asset_group", "product")
#: Fields a PUT may clear with "" [source: the update schema allows an empty string for them].
CLEARABLE = {"asset_type", "asset_group", "product"}

SELECT = (
    "SELECT device, type, doc, created, modified, callback, connected, connected_ts, disconnected_ts, "
    "last_seen, ip_address, rx_bytes, tx_bytes FROM th_devices"
)


def connection_state(row: sqlite3.Row, now_ms: int) -> tuple[bool, int | None]:
    """(connected, ts of the last change) as of ``now_ms``: a device past its timeout reads disconnected
    even before the background monitor has written it down."""
    if row["connected"]:
        limit = timeout_ms(json.loads(row["callback"]) if row["callback"] else None)
        if limit is None or row["last_seen"] is None or row["last_seen"] + limit > now_ms:
            return True, row["connected_ts"]
        return False, row["last_seen"] + limit
    return False, row["disconnected_ts"]


def device_object(row: sqlite3.Row, now_ms: int) -> dict[str, Any]:
    doc = json.loads(row["doc"])
    active, ts = connection_state(row, now_ms)
    data: dict[str, Any] = {"device": row["device"], "type": row["type"]}
    for key in FIELDS:
        data[key] = doc.get(key)
    data["created"] = row["created"]
    data["modified"] = row["modified"]
    data["connection"] = {"active": active, "ts": ts}
    return data


def stats_object(row: sqlite3.Row, now_ms: int) -> dict[str, Any]:
    active, _ts = connection_state(row, now_ms)
    return {
        "connected": active,
        "connected_ts": row["connected_ts"],
        "ip_address": row["ip_address"],
        "rx_bytes": row["rx_bytes"],
        "tx_bytes": row["tx_bytes"],
    }


def fetch_device(conn: sqlite3.Connection, user: str, device: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        SELECT + " WHERE user = ? AND device = ?", (user, device)
    ).fetchone()
    return row


class Devices:
    """The device backend (``ThingerBackend.devices``)."""

    def __init__(self, emu: Emulator, caches: Caches, monitor: ConnectionMonitor) -> None:
        self.emu = emu
        self.caches = caches
        self.monitor = monitor

    async def _commit(
        self, write: Callable[[sqlite3.Connection], tuple[dict[str, Any], Event]], user: str, device: str
    ) -> dict[str, Any]:
        data, event = await self.emu.store.write(write)
        self.caches.devices.forget(user, device)
        self.emu.events.publish(event)
        return data

    async def create(self, user: str, device: str, body: dict[str, Any]) -> dict[str, Any]:
        """An HTTP device unless ``type`` says otherwise; ``credentials`` are kept as a hash only."""
        dtype = str(body.get("type", "HTTP"))
        doc = {
            "name": body.get("name", ""),
            "description": body.get("description", ""),
            "enabled": body.get("enabled", True),
            "asset_type": body.get("asset_type"),
            "asset_group": body.get("asset_group"),
            "product": body.get("product"),
        }
        creds = body.get("credentials")
        now = self.emu.clock.now_ms()

        def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], Event]:
            if conn.execute(
                "SELECT 1 FROM th_devices WHERE user = ? AND device = ?", (user, device)
            ).fetchone():
                raise ApiProblem(400, f"device '{device}' already exists")
            conn.execute(
                "INSERT INTO th_devices(user, device, type, doc, credentials_hash, created, modified) "
                "VALUES (?,?,?,?,?,?,?)",
                (user, device, dtype, json.dumps(doc), hash_token(creds) if creds else None, now, now),
            )
            event = self.emu.events.stage(
                conn, "device.created", {"user": user, "device": device, "type": dtype}
            )
            row = fetch_device(conn, user, device)
            assert row is not None
            return device_object(row, now), event

        return await self._commit(write, user, device)

    async def all(self, user: str, dtype: str | None) -> list[dict[str, Any]]:
        """Every device of the user (of ``dtype`` when given), ordered by id, with its connection state."""
        now = self.emu.clock.now_ms()

        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            sql = SELECT + " WHERE user = ?"
            args: list[Any] = [user]
            if dtype:
                sql += " AND type = ?"
                args.append(dtype)
            return [device_object(r, now) for r in conn.execute(sql + " ORDER BY device", args).fetchall()]

        return await self.emu.store.read(read)

    async def _row(self, user: str, device: str) -> tuple[sqlite3.Row, int]:
        now = self.emu.clock.now_ms()
        row = await self.emu.store.read(lambda c: fetch_device(c, user, device))
        if row is None:
            raise not_found("device", device)
        return row, now

    async def read(self, user: str, device: str) -> dict[str, Any]:
        row, now = await self._row(user, device)
        return device_object(row, now)

    async def stats(self, user: str, device: str) -> dict[str, Any]:
        """``{"connected","connected_ts","ip_address","rx_bytes","tx_bytes"}``."""
        row, now = await self._row(user, device)
        return stats_object(row, now)

    async def update(
        self, user: str, device: str, body: dict[str, Any], check: Callable[[dict[str, Any]], None]
    ) -> dict[str, Any]:
        """Change the given fields; ``""`` clears asset_type, asset_group and product.

        ``device`` and ``type`` cannot change: a body may repeat their current values (as the real
        server's "Full Update" example does), any other value is a 400. ``check(rest)`` validates what
        is left once they are taken out.
        """
        now = self.emu.clock.now_ms()

        def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], Event]:
            row = fetch_device(conn, user, device)
            if row is None:
                raise not_found("device", device)
            rest = dict(body)
            for key, current in (("device", device), ("type", row["type"])):
                if key in rest:
                    if rest[key] != current:
                        raise ApiProblem(400, f"field '{key}' cannot be changed (it is '{current}')")
                    del rest[key]
            check(rest)
            doc = json.loads(row["doc"])
            for key, value in rest.items():
                if key == "credentials":
                    continue
                doc[key] = None if key in CLEARABLE and value == "" else value
            creds = rest.get("credentials")
            conn.execute(
                "UPDATE th_devices SET doc = ?, modified = ?, credentials_hash = COALESCE(?, credentials_hash) "
                "WHERE user = ? AND device = ?",
                (json.dumps(doc), now, hash_token(creds) if creds else None, user, device),
            )
            changed = sorted(k for k in rest if k != "credentials") + (["credentials"] if creds else [])
            event = self.emu.events.stage(
                conn, "device.updated", {"user": user, "device": device, "fields": changed}
            )
            new = fetch_device(conn, user, device)
            assert new is not None
            return device_object(new, now), event

        return await self._commit(write, user, device)

    async def delete(self, user: str, device: str) -> dict[str, Any]:
        """The device, its callback, tokens and properties (its buckets stay)."""
        now = self.emu.clock.now_ms()

        def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], Event]:
            row = fetch_device(conn, user, device)
            if row is None:
                raise not_found("device", device)
            data = device_object(row, now)
            conn.execute("DELETE FROM th_devices WHERE user = ? AND device = ?", (user, device))
            conn.execute("DELETE FROM th_properties WHERE user = ? AND device = ?", (user, device))
            conn.execute(
                "DELETE FROM tokens WHERE kind = 'device' AND user = ? AND device = ?", (user, device)
            )
            event = self.emu.events.stage(conn, "device.deleted", {"user": user, "device": device})
            return data, event

        data, event = await self.emu.store.write(write)
        self.caches.devices.forget(user, device)
        self.monitor.discard(user, device)
        self.emu.auth.forget(user, device)
        self.caches.callback_tokens.clear()
        self.emu.events.publish(event)
        return data
