"""Run a fleet in this process: ``locust.env.Environment`` + ``LocalRunner``, then a summary.

Imports Locust (gevent monkey-patching): only ``iotcli fleet run`` imports this module.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
from locust.env import Environment

from iotcli.fleet.users import Budget

#: Seconds a device in the middle of an uplink gets to finish it when the fleet stops.
STOP_TIMEOUT = 10.0


def run_fleet(
    user_class: type[Any],
    *,
    users: int,
    ramp_up: float = 0.0,
    duration: float | None = None,
    uplinks: int | None = None,
    tick: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run ``users`` simulated devices until ``duration`` seconds have passed or ``uplinks`` uplinks have
    been answered (or Ctrl-C: the summary then says ``interrupted``); the summary of the run."""
    user_class.budget = Budget(uplinks) if uplinks else None
    # stop_timeout: at the end (or Ctrl-C) a device in the middle of an uplink finishes it, so every
    # request the server took is in the summary; devices waiting for their next uplink stop at once.
    env = Environment(user_classes=[user_class], stop_timeout=STOP_TIMEOUT)
    answered = 0

    def on_request(**_kw: Any) -> None:
        nonlocal answered
        answered += 1

    env.events.request.add_listener(on_request)
    runner = env.create_local_runner()
    spawn_rate = users / ramp_up if ramp_up > 0 else float(users)
    started = time.monotonic()
    interrupted = False
    # Ctrl-C is taken by gevent's hub and only sets a flag: a KeyboardInterrupt raised in whichever
    # greenlet runs at that moment could abort a device's uplink after the server stored it.
    stop_asked = gevent.event.Event()
    handler = gevent.signal_handler(signal.SIGINT, stop_asked.set)
    runner.start(users, spawn_rate=spawn_rate)
    try:
        while True:
            if stop_asked.wait(0.05):
                raise KeyboardInterrupt
            elapsed = time.monotonic() - started
            if duration is not None and elapsed >= duration:
                break
            if uplinks is not None and answered >= uplinks:
                break
            if tick is not None:
                tick(summary(env, elapsed))
    except KeyboardInterrupt:
        interrupted = True
    finally:
        runner.stop()  # graceful: uplinks in flight are answered (up to STOP_TIMEOUT), no new ones start
        runner.quit()
        handler.cancel()
    result = summary(env, time.monotonic() - started)
    result["interrupted"] = interrupted
    result["users"] = users
    return result


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
    }


def _pct(stats: Any, q: float) -> float | None:
    if not stats.num_requests:
        return None
    return float(stats.get_response_time_percentile(q))


def _kind(error: object) -> str:
    """``HTTP 401``, ``no answer: ConnectionRefusedError``, ...: the kind, never a URL or a token."""
    if type(error).__name__ == "CatchResponseError" or isinstance(error, str):
        return str(error)
    return type(error).__name__
