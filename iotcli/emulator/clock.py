"""The one emulator clock behind every timer.

``time_scale`` is how long an emulated second takes in real seconds: 0.01 turns a 2 s retry delay
into 20 ms of real time (CONTRACT section 1), 1.0 is real time. The clock can also jump forward
(``advance``). Waiters (device timeouts, retry delays, reconnects, token expiry) sleep on the
clock, not on ``asyncio.sleep``, so a jump or a scale wakes them at the right emulated moment.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class EmulatorClock:
    def __init__(
        self,
        time_scale: float = 1.0,
        *,
        start: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = time_scale
        self._monotonic = monotonic
        self._real0 = monotonic()
        self._emu0 = time.time() if start is None else start
        self._changed: asyncio.Event | None = None
        self._listeners: list[Callable[[], None]] = []

    def now(self) -> float:
        """Emulated time, epoch seconds."""
        return self._emu0 + (self._monotonic() - self._real0) / self.scale

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> float:
        """Jump forward; wakes every waiter so it can see whether its moment has come."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._emu0 += seconds
        self._notify()
        return self.now()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each advance (from the thread that advanced)."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None
        for listener in self._listeners:
            listener()

    def real_seconds(self, emulated_seconds: float) -> float:
        """How much real time passes while ``emulated_seconds`` pass on this clock."""
        return max(0.0, emulated_seconds * self.scale)

    async def sleep_until(self, deadline: float, wake: asyncio.Event | None = None) -> None:
        """Return when emulated time reaches ``deadline`` (or earlier if ``wake`` is set)."""
        while True:
            remaining = deadline - self.now()
            if remaining <= 0:
                return
            if wake is not None and wake.is_set():
                return
            if self._changed is None:
                self._changed = asyncio.Event()
            changed = self._changed
            waiters = [asyncio.ensure_future(changed.wait())]
            if wake is not None:
                waiters.append(asyncio.ensure_future(wake.wait()))
            try:
                await asyncio.wait(
                    waiters, timeout=self.real_seconds(remaining), return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for w in waiters:
                    w.cancel()

    def to_dict(self) -> dict[str, float | int | str]:
        now = self.now()
        return {
            "now": now,
            "now_ms": int(now * 1000),
            "iso": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
            "time_scale": self.scale,
        }
