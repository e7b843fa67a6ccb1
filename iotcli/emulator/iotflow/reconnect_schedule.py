"""Reconnect schedules of a CLOSED connection (``reconnectStrategy``) [source]:

- NORMAL: every 5 min for 1 h, then hourly for 1 day, then daily.
- CALM: every 10 min for 12 h, then hourly for 1 day, then no more attempts (stays CLOSED).
- AGGRESSIVE: every 3 min for 3 h, then every 30 min for 1 week, then hourly.

Phases follow each other [chosen]: NORMAL's hourly phase runs from 1 h to 25 h after the connection
closed. Attempt times are counted from the moment it closed, so a clock jump lands on the schedule.
"""

from __future__ import annotations

import math

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
