"""Reconnect schedules of a CLOSED connection (``reconnectStrategy``) [source]:

- NORMAL: every 5 min for 1 h, then hourly for 1 day, then daily.
- CALM: every 10 min for 12 h, then hourly for 1 day, then no more attempts (stays CLOSED).
- AGGRESSIVE: every 3 min for 3 h, then every 30 min for 1 week, then hourly.

Phases follow each other [chosen]: NORMAL's hourly phase runs from 1 h to 25 h after the connection
closed. Attempt times are counted from the moment it closed, so a clock jump lands on the schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from iotcli.emulator.iotflow.connections import CLOSED, OPENED, OPENING, Connection

if TYPE_CHECKING:
    from iotcli.emulator.iotflow.service import IotFlow

log = logging.getLogger("iotcli.emulator")

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0

#: strategy -> [(interval, phase length)]; a phase length of inf never ends.
SCHEDULES: dict[str, list[tuple[float, float]]] = {
    "NORMAL": [(5 * MINUTE, HOUR), (HOUR, DAY), (DAY, math.inf)],
    "CALM": [(10 * MINUTE, 12 * HOUR), (HOUR, DAY)],
    "AGGRESSIVE": [(3 * MINUTE, 3 * HOUR), (30 * MINUTE, 7 * DAY), (HOUR, math.inf)],
}


def next_attempt(strategy: str, closed_at: float, now: float) -> float | None:
    """The first scheduled reconnect attempt strictly after ``now``; None when the schedule is over."""
    phases = SCHEDULES.get(strategy, SCHEDULES["NORMAL"])
    start = closed_at
    for interval, length in phases:
        end = start + length
        if now < end:
            k = max(1, math.floor((now - start) / interval) + 1)
            candidate = start + k * interval
            if candidate <= end:
                return candidate
        start = end
    return None


def attempt_times(strategy: str, closed_at: float, until: float) -> list[float]:
    """Every attempt from ``closed_at`` up to ``until`` (for docs and tests)."""
    out: list[float] = []
    t = closed_at
    while True:
        nxt = next_attempt(strategy, closed_at, t)
        if nxt is None or nxt > until:
            return out
        out.append(nxt)
        t = nxt


class ReconnectMonitor:
    """The timers of connection states: starting connections, and reconnect attempts of CLOSED
    connections that have no message waiting.

    A starting connection turns OPENING, then OPENED, at the times ``ConnectionService`` set. While
    messages wait on a CLOSED one, the oldest is the reconnect attempt (the forwarding policy sends
    it). With none waiting, this monitor opens a TCP connection to the destination (or its proxy) at
    each scheduled attempt, so ``state`` turns ``OPENED`` when the destination is back, traffic or not.
    """

    def __init__(self, service: IotFlow) -> None:
        self.service = service
        self.emu = service.emu
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
                for conn in list(self.service.connections.cache.values()):
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
        forwarding = self.service.forwarding
        if now >= opening_at and conn.state == CLOSED:
            await forwarding.set_state(conn, OPENING, conn.state_reason or "starting")
        if now >= opened_at and conn.state == OPENING:
            await forwarding.set_state(conn, OPENED, "started")
            return None
        return float(opening_at if conn.state == CLOSED else opened_at)

    async def _visit(self, conn: Connection) -> float | None:
        """Probe ``conn`` if its attempt is due; return when to look at it again (None: never)."""
        now = self.emu.clock.now()
        strategy = str(conn.configuration.get("reconnectStrategy") or "NORMAL")
        probe_at = conn.extra.get("next_probe")
        if isinstance(probe_at, float) and probe_at > now:
            return None if probe_at == math.inf else probe_at
        closed_at = conn.closed_at or now
        cid = conn.id
        waiting = await self.emu.store.read(
            lambda c: c.execute(
                "SELECT COUNT(*) FROM deliveries WHERE connection = ? AND status = 'pending'", (cid,)
            ).fetchone()[0]
        )
        if waiting:
            # A waiting message is the attempt (sent by the forwarding policy).
            return next_attempt(strategy, closed_at, now)
        nxt = next_attempt(strategy, closed_at, now)
        conn.extra["next_probe"] = nxt if nxt is not None else math.inf
        if await self._reachable(conn):
            await self.service.forwarding.open_now(conn, "reconnected: the destination accepts connections")
            return None
        return nxt

    async def _reachable(self, conn: Connection) -> bool:
        from iotcli.emulator.iotflow.forwarding import proxy_url

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
