"""The reconnect monitor: the timers of connection states (the schedules: ``reconnect_schedule``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from iotcli.emulator.iotflow.connection_model import CLOSED, OPENED, OPENING, Connection
from iotcli.emulator.iotflow.destination import proxy_url
from iotcli.emulator.iotflow.reconnect_schedule import attempt_times as attempt_times
from iotcli.emulator.iotflow.reconnect_schedule import next_attempt

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator
    from iotcli.emulator.iotflow.connections import ConnectionService

log = logging.getLogger("iotcli.emulator")


class ReconnectMonitor:
    """The timers of connection states: starting connections, and reconnect attempts of CLOSED
    connections that have no message waiting.

    A starting connection turns OPENING, then OPENED, at the times ``ConnectionService`` set. While
    messages wait on a CLOSED one, the oldest is the reconnect attempt (the forwarding policy sends
    it). With none waiting, this monitor opens a TCP connection to the destination (or its proxy) at
    each scheduled attempt, so ``state`` turns ``OPENED`` when the destination is back, traffic or not.
    """

    def __init__(self, emu: Emulator, connections: ConnectionService) -> None:
        self.emu = emu
        self.connections = connections
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="iotflow-reconnect")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            soonest: float | None = None
            try:
                for conn in list(self.connections.cache.values()):
                    if not conn.active:
                        continue
                    if conn.starting:
                        nxt = await self._startup(conn)
                    elif conn.state == CLOSED:
                        nxt = await self._visit(conn)
                    else:
                        continue
                    if nxt is not None and (soonest is None or nxt < soonest):
                        soonest = nxt
            except Exception as exc:  # noqa: BLE001 - keep the monitor alive
                log.warning("reconnect monitor: %s: %s", type(exc).__name__, exc)
                soonest = self.emu.clock.now() + 60
            if soonest is None:
                await self._wake.wait()
            else:
                await self.emu.clock.sleep_until(soonest, self._wake)

    async def _startup(self, conn: Connection) -> float | None:
        """Move a starting connection along CLOSED -> OPENING -> OPENED; return its next step's time."""
        opening_at, opened_at = conn.extra.get("startup") or (0.0, 0.0)
        now = self.emu.clock.now()
        if now >= opening_at and conn.state == CLOSED:
            await self.connections.set_state(conn, OPENING, conn.state_reason or "starting")
        if now >= opened_at and conn.state == OPENING:
            await self.connections.set_state(conn, OPENED, "started")
            return None
        return float(opening_at if conn.state == CLOSED else opened_at)

    async def _visit(self, conn: Connection) -> float | None:
        """Probe ``conn`` if its attempt is due; return when to look at it again (None: never)."""
        now = self.emu.clock.now()
        strategy = conn.reconnect_strategy
        probe_at = conn.extra.get("next_probe")
        if isinstance(probe_at, float) and probe_at > now:
            return None if probe_at == math.inf else probe_at
        closed_at = conn.closed_at or now
        if await self.connections.pending_count(conn):
            # A waiting message is the attempt (sent by the forwarding policy).
            return next_attempt(strategy, closed_at, now)
        nxt = next_attempt(strategy, closed_at, now)
        conn.extra["next_probe"] = nxt if nxt is not None else math.inf
        if await self._reachable(conn):
            await self.connections.open_now(conn, "reconnected: the destination accepts connections")
            return None
        return nxt

    async def _reachable(self, conn: Connection) -> bool:
        cfg = conn.configuration
        target = proxy_url(cfg["proxy"]) if cfg.get("proxy") else str(cfg["destinationURL"])
        parts = urlsplit(target)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            _reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), timeout=self.emu.settings.outbound_timeout
            )
        except (OSError, TimeoutError):
            return False
        writer.close()
        return True
