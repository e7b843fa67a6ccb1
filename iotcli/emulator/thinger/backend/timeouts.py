"""Device connection timeouts on the emulator clock.

After ``properties.timeout`` minutes (default 10) without a callback call an HTTP device is
disconnected [source]. One background task sleeps on the emulator clock until the earliest deadline;
a clock jump (``clock.on_change``) or an earlier new deadline wakes it. The database stays the
authority: the task re-checks ``last_seen`` inside the write, so a call that arrived meanwhile wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import sqlite3
from typing import TYPE_CHECKING, Any

from iotcli.emulator.thinger.backend.state import timeout_ms

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

log = logging.getLogger("iotcli.emulator.thinger")

Key = tuple[str, str]


class ConnectionMonitor:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        #: (user, device) -> emulated epoch seconds at which it times out.
        self.deadlines: dict[Key, float] = {}
        self._next = math.inf
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._listening = False

    # -- life cycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if not self._listening:
            self.emu.clock.on_change(self._clock_changed)
            self._listening = True
        rows = await self.emu.store.read(_connected_devices)
        for user, device, last_seen, callback in rows:
            limit = timeout_ms(json.loads(callback) if callback else None)
            if limit is not None and last_seen is not None:
                self.deadlines[(user, device)] = (last_seen + limit) / 1000
        self._task = asyncio.create_task(self._run(), name="thinger-connection-timeouts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def reset(self) -> None:
        self.deadlines.clear()
        self._poke()

    # -- deadlines ----------------------------------------------------------------------------
    def touch(self, user: str, device: str, deadline: float | None) -> None:
        """A call arrived: the device now times out at ``deadline`` (None = never)."""
        key = (user, device)
        if deadline is None:
            self.deadlines.pop(key, None)
            return
        self.deadlines[key] = deadline
        if deadline < self._next:
            self._poke()

    def discard(self, user: str, device: str) -> None:
        self.deadlines.pop((user, device), None)

    def _poke(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _clock_changed(self) -> None:
        # Called from whichever thread advanced the clock.
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._poke()
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._poke)

    # -- the loop -----------------------------------------------------------------------------
    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            now = self.emu.clock.now()
            due = [key for key, deadline in self.deadlines.items() if deadline <= now]
            if due:
                try:
                    await self._disconnect(due)
                except Exception as exc:  # noqa: BLE001 - keep the monitor alive
                    log.error("device timeout check failed: %s", exc)
                    await asyncio.sleep(0.5)
                continue
            self._next = min(self.deadlines.values(), default=math.inf)
            if self._next == math.inf:
                await self._wake.wait()
            else:
                await self.emu.clock.sleep_until(self._next, self._wake)
            self._next = math.inf

    async def _disconnect(self, keys: list[Key]) -> None:
        emu = self.emu
        now_ms = emu.clock.now_ms()

        def write(conn: sqlite3.Connection) -> tuple[list[dict[str, Any]], dict[Key, float]]:
            events: list[dict[str, Any]] = []
            still: dict[Key, float] = {}
            for user, device in keys:
                row = conn.execute(
                    "SELECT connected, last_seen, callback FROM th_devices WHERE user = ? AND device = ?",
                    (user, device),
                ).fetchone()
                if row is None or not row["connected"]:
                    continue
                limit = timeout_ms(json.loads(row["callback"]) if row["callback"] else None)
                if limit is None or row["last_seen"] is None:
                    continue
                deadline = row["last_seen"] + limit
                if deadline > now_ms:
                    still[(user, device)] = deadline / 1000
                    continue
                conn.execute(
                    "UPDATE th_devices SET connected = 0, disconnected_ts = ? WHERE user = ? AND device = ?",
                    (deadline, user, device),
                )
                events.append(
                    emu.events.stage(
                        conn,
                        "device.disconnected",
                        {
                            "user": user,
                            "device": device,
                            "reason": "timeout",
                            "timeout_minutes": limit / 60_000,
                            "last_seen": row["last_seen"],
                            "at": deadline,
                        },
                    )
                )
            return events, still

        events, still = await emu.store.write(write)
        now = now_ms / 1000
        for key in keys:
            current = self.deadlines.get(key)
            if current is not None and current <= now:
                if key in still:
                    self.deadlines[key] = still[key]
                else:
                    del self.deadlines[key]
        emu.events.publish(*events)


def _connected_devices(conn: sqlite3.Connection) -> list[tuple[str, str, int | None, str | None]]:
    return [
        (r["user"], r["device"], r["last_seen"], r["callback"])
        for r in conn.execute("SELECT user, device, last_seen, callback FROM th_devices WHERE connected = 1")
    ]
