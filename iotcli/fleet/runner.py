"""Run a fleet on Locust: in this process (``LocalRunner``), or distributed with Locust's own master and
workers (``MasterRunner`` / ``WorkerRunner``), then a summary.

Distributed, the master holds the fleet: its configuration and device list go to each worker in a
``fleet_config`` message, the answer to the worker's ``fleet_hello`` (workers need no devices file), each simulated device on a worker asks the master
for its device number (``fleet_claim``), so the devices are split across the workers and none is played
twice, and ``--uplinks N`` is split into one budget per worker process. The workers report their stats to
the master (every second here), whose summary adds them up. At the end the master asks every worker to
stop (``fleet_stop``): uplinks in flight finish, the worker sends its last stats and ``fleet_done``; then
the master quits them.

This module runs a fleet in one process and makes its summary; ``iotcli.fleet.distributed`` holds the
master and the worker. Imports Locust (gevent monkey-patching): only ``iotcli fleet run`` imports them.
"""

from __future__ import annotations

import ipaddress
import re
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import gevent
import gevent.event
from locust.env import Environment

from iotcli.fleet.users import STARTED, Budget

#: Seconds a device in the middle of an uplink gets to finish it when the fleet stops.
STOP_TIMEOUT = 10.0
#: Seconds between two stats reports of a worker to the master (Locust's default is 3).
REPORT_INTERVAL = 1.0
#: Locust's master port.
DEFAULT_PORT = 5557
#: A worker that hears nothing from its master for this long stops (Locust's default is 60 s).
MASTER_TIMEOUT = 15

Tick = Callable[[dict[str, Any]], None]


@contextmanager
def _ctrl_c() -> Iterator[gevent.event.Event]:
    """Ctrl-C is taken by gevent's hub and only sets a flag: a KeyboardInterrupt raised in whichever
    greenlet runs at that moment could abort a device's uplink after the server stored it."""
    asked = gevent.event.Event()
    handler = gevent.signal_handler(signal.SIGINT, asked.set)
    try:
        yield asked
    finally:
        handler.cancel()


def _inline_resolver(user_class: type[Any]) -> None:
    """When every target is an IP address or localhost, let gevent resolve in the loop ("block").

    Its default resolver hands each lookup, and so each new connection of a device, to a thread: about a
    millisecond and a thread switch per uplink, which on a busy machine becomes the fleet's tail latency.
    A host name is still resolved in a thread (a slow DNS server must not stall every device)."""
    urls = [str(getattr(user_class, "host", "") or ""), str(getattr(user_class, "to_url", "") or "")]
    urls += [d.callback_url for d in getattr(user_class, "devices", [])]
    hosts = {urlsplit(u).hostname for u in urls if u}
    if hosts and all(_is_local_literal(h) for h in hosts):
        gevent.config.resolver = "block"  # read when the hub first resolves (lazily), so set it first


def _is_local_literal(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _drive(
    env: Environment,
    stop_asked: gevent.event.Event,
    *,
    duration: float | None,
    uplinks: int | None,
    tick: Tick | None,
    tick_every: float,
) -> tuple[bool, float]:
    """Wait until ``duration`` passed, ``uplinks`` were answered, or Ctrl-C; (interrupted, started)."""
    started = time.monotonic()
    next_tick = started + tick_every
    while True:
        if stop_asked.wait(0.05):
            return True, started
        now = time.monotonic()
        elapsed = now - started
        if duration is not None and elapsed >= duration:
            return False, started
        if uplinks is not None and env.stats.total.num_requests >= uplinks:
            return False, started
        if tick is not None and now >= next_tick:
            tick(summary(env, elapsed))
            next_tick = now + tick_every


def run_fleet(
    user_class: type[Any],
    *,
    users: int,
    ramp_up: float = 0.0,
    duration: float | None = None,
    uplinks: int | None = None,
    tick: Tick | None = None,
    tick_every: float = 1.0,
) -> dict[str, Any]:
    """Run ``users`` simulated devices in this process until ``duration`` seconds have passed or
    ``uplinks`` uplinks have been answered (or Ctrl-C: the summary then says ``interrupted``); ``tick``
    gets the summary so far every ``tick_every`` seconds. The summary of the run."""
    user_class.budget = Budget(uplinks) if uplinks else None
    # stop_timeout: at the end (or Ctrl-C) a device in the middle of an uplink finishes it, so every
    # request the server took is in the summary; devices waiting for their next uplink stop at once.
    _inline_resolver(user_class)
    env = Environment(user_classes=[user_class], stop_timeout=STOP_TIMEOUT)
    runner = env.create_local_runner()
    with _ctrl_c() as stop_asked:
        runner.start(users, spawn_rate=_spawn_rate(users, ramp_up))
        try:
            interrupted, started = _drive(
                env, stop_asked, duration=duration, uplinks=uplinks, tick=tick, tick_every=tick_every
            )
        finally:
            runner.stop()  # graceful: uplinks in flight are answered (up to STOP_TIMEOUT), no new ones start
            runner.quit()
    result = summary(env, time.monotonic() - started)
    result["unfinished"] = max(0, STARTED.pop(id(env), 0) - result["sent"])
    result["interrupted"] = interrupted
    result["users"] = users
    return result


def _spawn_rate(users: int, ramp_up: float) -> float:
    return users / ramp_up if ramp_up > 0 else float(users)


def split(total: int | None, parts: int) -> list[int | None]:
    """``total`` uplinks as ``parts`` budgets that add up to it (the first ones get the remainder)."""
    if total is None:
        return [None] * parts
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def summary(env: Environment, elapsed: float) -> dict[str, Any]:
    total = env.stats.total
    errors: Counter[str] = Counter()
    for entry in env.stats.errors.values():
        errors[_kind(entry.error)] += entry.occurrences
    sent = total.num_requests  # answered or failed; num_failures of them failed
    return {
        "sent": sent,
        "ok": sent - total.num_failures,
        "errors": sum(errors.values()),
        "errors_by_kind": dict(sorted(errors.items())),
        "latency_ms": {
            "p50": _pct(total, 0.50),
            "p95": _pct(total, 0.95),
            "p99": _pct(total, 0.99),
        },
        "elapsed_s": round(elapsed, 3),
        "rate_per_s": round(sent / elapsed, 2) if elapsed > 0 else 0.0,
        "current_rate_per_s": round(float(total.current_rps), 2),
    }


def _pct(stats: Any, q: float) -> float | None:
    if not stats.num_requests:
        return None
    return float(stats.get_response_time_percentile(q))


_REPR = re.compile(r"^(\w+)\((?:(['\"])(.*)\2)?.*\)$", re.S)


def _kind(error: object) -> str:
    """``HTTP 401``, ``no answer: ConnectionRefusedError``, ...: the kind, never a URL or a token.

    Locally the error is the exception; on a master it is its repr as a worker reported it."""
    if type(error).__name__ == "CatchResponseError":
        return str(error)
    if isinstance(error, str):
        m = _REPR.match(error)
        if m is None:
            return error
        return m.group(3) if m.group(1) == "CatchResponseError" and m.group(3) else m.group(1)
    return type(error).__name__
