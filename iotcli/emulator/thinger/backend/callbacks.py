"""A device's callback settings: which bucket, property and endpoint its calls feed, and its timeout."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.thinger.backend.state import (
    DEFAULT_TIMEOUT_MINUTES,
    Caches,
    exists,
    load_bucket_info,
    not_found,
    timeout_ms,
)
from iotcli.emulator.thinger.backend.timeouts import ConnectionMonitor

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator


def settings_object(callback: dict[str, Any] | None) -> dict[str, Any]:
    callback = callback or {}
    actions = {k: v for k, v in (callback.get("actions") or {}).items() if v}
    props = {"timeout": DEFAULT_TIMEOUT_MINUTES, **(callback.get("properties") or {})}
    return {"actions": actions, "properties": props}


def _check_actions(conn: sqlite3.Connection, user: str, actions: dict[str, Any]) -> None:
    """A named bucket must exist and take writes; a named endpoint must exist."""
    bucket = actions.get("write_bucket")
    if bucket:
        info = load_bucket_info(conn, user, bucket)
        if info is None:
            raise ApiProblem(400, f"field 'actions.write_bucket': bucket '{bucket}' does not exist")
        if not info.writable:
            raise ApiProblem(
                400,
                f"field 'actions.write_bucket': bucket '{bucket}' takes its data from '{info.source}', "
                "not from callbacks (use an 'api' or 'write' bucket)",
            )
    endpoint = actions.get("call_endpoint")
    if endpoint and not exists(conn, "th_endpoints", "endpoint", user, endpoint):
        raise ApiProblem(400, f"field 'actions.call_endpoint': endpoint '{endpoint}' does not exist")


class Callbacks:
    """The callback settings backend (``ThingerBackend.callbacks``)."""

    def __init__(self, emu: Emulator, caches: Caches, monitor: ConnectionMonitor) -> None:
        self.emu = emu
        self.caches = caches
        self.monitor = monitor

    async def read(self, user: str, device: str) -> dict[str, Any]:
        """``{"actions": {write_bucket, call_endpoint, set_property, send_property}, "properties": {"timeout"}}``."""
        row = await self.emu.store.read(
            lambda c: c.execute(
                "SELECT callback FROM th_devices WHERE user = ? AND device = ?", (user, device)
            ).fetchone()
        )
        if row is None:
            raise not_found("device", device)
        return settings_object(json.loads(row["callback"]) if row["callback"] else None)

    async def put(self, user: str, device: str, body: dict[str, Any]) -> dict[str, Any]:
        """Each top-level key given (``actions``, ``properties``) replaces the stored one; a key left out
        stays as it was [chosen]. A connected device's timeout moves with its new setting."""
        actions = body.get("actions")
        now = self.emu.clock.now_ms()

        def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any], sqlite3.Row]:
            row = conn.execute(
                "SELECT callback, connected, last_seen FROM th_devices WHERE user = ? AND device = ?",
                (user, device),
            ).fetchone()
            if row is None:
                raise not_found("device", device)
            if actions is not None:
                _check_actions(conn, user, actions)
            callback = json.loads(row["callback"]) if row["callback"] else {}
            for key in ("actions", "properties"):
                if key in body:
                    callback[key] = body[key]
            conn.execute(
                "UPDATE th_devices SET callback = ?, modified = ? WHERE user = ? AND device = ?",
                (json.dumps(callback), now, user, device),
            )
            event = self.emu.events.stage(
                conn, "device.callback_set", {"user": user, "device": device, **settings_object(callback)}
            )
            return callback, event, row

        callback, event, row = await self.emu.store.write(write)
        self.caches.devices.forget(user, device)
        if row["connected"] and row["last_seen"] is not None:
            limit = timeout_ms(callback)
            self.monitor.touch(user, device, None if limit is None else (row["last_seen"] + limit) / 1000)
        self.emu.events.publish(event)
        return settings_object(callback)
