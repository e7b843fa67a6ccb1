"""The waiter: ``wait_for`` checks a condition, then follows the emulator's event stream and checks
again when a relevant event arrives, until it holds or the ``Deadline`` (wall or emulator time) passes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from iotcli.errors import ApiError, ConditionNotMet, NetworkError, UsageError
from iotcli.waiting.conditions import Condition, Observation

if TYPE_CHECKING:
    from iotcli.client.api import ApiClient

#: Real seconds between checks when the stream cannot tell (or there is no stream).
RECHECK = 0.5
#: Longest silence on the stream before the waiter looks at the clock and reconnects.
MAX_SLICE = 10.0  # below the stream's 15 s keep-alive: silence ends a slice
WALL, EMULATOR = "wall", "emulator"


@dataclass
class Deadline:
    """When to give up: ``seconds`` of wall time, or of emulator time (read from the server's clock)."""

    seconds: float
    clock: str = WALL
    _wall_end: float = 0.0
    _emu_end: float = 0.0
    _emu_now: float = 0.0
    _emu_at: float = 0.0  # time.monotonic() when _emu_now was read
    _scale: float = 1.0

    def start(self, api: ApiClient) -> None:
        if self.clock not in (WALL, EMULATOR):
            raise UsageError(f"clock '{self.clock}' must be '{WALL}' or '{EMULATOR}'")
        self._wall_end = time.monotonic() + self.seconds
        if self.clock == EMULATOR:
            self.sync(api)
            self._emu_end = self._emu_now + self.seconds

    def sync(self, api: ApiClient) -> None:
        clock = api.clock()
        self._emu_now, self._emu_at = float(clock["now"]), time.monotonic()
        self._scale = float(clock.get("time_scale") or 1.0)

    def saw(self, event: dict[str, Any]) -> None:
        """Events carry emulator time: a clock advance shows up here at once."""
        ts = event.get("ts")
        if self.clock == EMULATOR and isinstance(ts, int | float) and ts / 1000 > self.emu_now():
            self._emu_now, self._emu_at = ts / 1000, time.monotonic()

    def emu_now(self) -> float:
        return self._emu_now + (time.monotonic() - self._emu_at) / self._scale

    def remaining(self) -> float:
        """Real seconds left (estimated from the scale on the emulator clock)."""
        if self.clock == WALL:
            return self._wall_end - time.monotonic()
        return (self._emu_end - self.emu_now()) * self._scale

    def passed(self, api: ApiClient) -> bool:
        if self.clock == WALL:
            return time.monotonic() >= self._wall_end
        self.sync(api)
        return self.emu_now() >= self._emu_end


def wait_for(
    api: ApiClient,
    condition: Condition,
    *,
    timeout: float = 30.0,
    clock: str = WALL,
    recheck: float = RECHECK,
    on_check: Callable[[Observation], None] | None = None,
) -> Observation:
    """Return the observation once ``condition`` holds; raise ``ConditionNotMet`` (exit 7) when
    ``timeout`` seconds (of ``clock``: wall or emulator time) pass first, naming what was last seen.

    API errors of the checks (an unknown sink or device: 404) are raised as they are.
    """
    deadline = Deadline(timeout, clock)
    deadline.start(api)
    start = _last_event_id(api)
    seen = condition.check(api)
    if on_check is not None:
        on_check(seen)
    while not seen.done:
        if deadline.passed(api):
            raise ConditionNotMet(
                f"timed out after {timeout:g}s ({clock} time) waiting for {condition.describe()}: "
                f"last seen {seen.seen}",
                hint="raise --timeout, or look at `iotcli events` for what happened instead",
            )
        woke = _next_wake(api, condition, deadline, start, recheck)
        start = woke if woke is not None else start
        seen = condition.check(api)
        if on_check is not None:
            on_check(seen)
    return seen


def _last_event_id(api: ApiClient) -> int | None:
    """The journal's newest id (the stream follows from there), or None without a journal."""
    try:
        latest = api.list_events(limit=1)
    except (ApiError, NetworkError):
        return None
    return int(latest[-1]["id"]) if latest else 0


def _next_wake(
    api: ApiClient, condition: Condition, deadline: Deadline, after: int | None, recheck: float
) -> int | None:
    """Block until a relevant event arrives, a re-check is due, or the deadline: return the last event id."""
    slice_ = max(0.01, min(deadline.remaining(), MAX_SLICE if condition.stream_tells else recheck))
    if after is None:  # no event journal here: poll
        time.sleep(min(slice_, recheck))
        return None
    last = after
    try:
        for event in _stream(api, after, slice_):
            last = max(last, int(event.get("id") or 0))
            deadline.saw(event)
            if condition.relevant(event) or deadline.remaining() <= 0:
                return last
    except httpx.TimeoutException:
        return last
    except (httpx.TransportError, ApiError):
        time.sleep(min(slice_, recheck))
    return last


def _stream(api: ApiClient, after: int, read_timeout: float) -> Iterator[dict[str, Any]]:
    """The event stream from ``after`` on; a ``ReadTimeout`` after ``read_timeout`` s of silence."""
    from iotcli.client.base import error_from_response
    from iotcli.client.iotflow import parse_sse

    params = {"follow": "1", "after": str(after)}
    headers = api._headers({"Accept": "text/event-stream"})
    timeout = httpx.Timeout(read_timeout, connect=min(5.0, max(read_timeout, 1.0)))
    with api.http.stream(
        "GET", "/_emulator/events", params=params, headers=headers, timeout=timeout
    ) as response:
        if response.status_code >= 400:
            response.read()
            raise error_from_response(response)
        yield from parse_sse(response.iter_lines())
