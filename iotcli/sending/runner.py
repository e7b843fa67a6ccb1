"""Send a plan once or N times: --repeat, --rate, --concurrency over one connection pool; a summary.

Workers are threads sharing one ``Transport`` (its keep-alive pool). With a rate, uplink k (0-based)
starts no earlier than ``start + k / rate`` whichever worker takes it, so the rate holds for any
concurrency; without one they send as fast as the server answers. One uplink's ``Result`` and
``send_one`` live in ``outcome`` (a single send imports only that); they are re-exported here.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from iotcli.errors import ExitCode
from iotcli.sending.outcome import NOT_STORED_HEADER, Result, exit_code_for, send_one
from iotcli.sending.request import RequestPlan
from iotcli.sending.transport import Transport

__all__ = ["NOT_STORED_HEADER", "Result", "Summary", "exit_code_for", "percentile", "run", "send_one"]


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(pct / 100 * len(sorted_values) + 0.4999)))
    return sorted_values[rank - 1]


@dataclass
class Summary:
    planned: int
    sent: int = 0
    ok: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    interrupted: bool = False
    #: Uplinks answered 2xx that stored nothing, by the emulator's reason.
    not_stored: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        return self.sent - self.ok

    @property
    def failures(self) -> dict[str, int]:
        return {k: n for k, n in sorted(self.outcomes.items()) if not (k.isdigit() and 200 <= int(k) < 300)}

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def exit_code(self) -> ExitCode:
        return exit_code_for(self.outcomes)

    def add(self, result: Result) -> None:
        self.sent += 1
        self.ok += result.ok
        self.outcomes[result.outcome] += 1
        self.latencies.append(result.latency)
        reason = result.not_stored
        if reason is not None:
            self.not_stored[reason] += 1

    def to_dict(self) -> dict[str, Any]:
        lat = sorted(self.latencies)

        def ms(value: float) -> float:
            return round(value * 1000, 2)

        return {
            "planned": self.planned,
            "sent": self.sent,
            "ok": self.ok,
            "failed": self.failed,
            "failed_by_status": self.failures,
            "statuses": dict(sorted(self.outcomes.items())),
            "elapsed_s": round(self.elapsed, 3),
            "rate_per_s": round(self.rate, 1),
            "latency_ms": {
                "min": ms(lat[0]) if lat else 0.0,
                "p50": ms(percentile(lat, 50)),
                "p95": ms(percentile(lat, 95)),
                "p99": ms(percentile(lat, 99)),
                "max": ms(lat[-1]) if lat else 0.0,
            },
            "not_stored": sum(self.not_stored.values()),
            "not_stored_by_reason": dict(self.not_stored.most_common()),
            "interrupted": self.interrupted,
            "exit_code": int(self.exit_code),
        }


def run(
    plan: RequestPlan,
    transport: Transport,
    *,
    repeat: int = 1,
    concurrency: int = 1,
    rate: float | None = None,
    on_result: Callable[[Result], None] | None = None,
    keep: Callable[[Result], bool] | None = None,
) -> tuple[Summary, list[Result]]:
    """Send ``repeat`` uplinks with ``concurrency`` workers at most ``rate`` per second.

    ``on_result`` is called (under a lock, in completion order) for each result; ``keep`` picks the
    results returned besides the summary (default: none). Ctrl-C stops the run: the summary then
    counts what was sent and says ``interrupted``.
    """
    summary = Summary(planned=repeat)
    kept: list[Result] = []
    lock = threading.Lock()
    next_index = iter(range(1, repeat + 1))
    stop = threading.Event()
    start = time.perf_counter()

    def take() -> int | None:
        with lock:
            return None if stop.is_set() else next(next_index, None)

    def record(result: Result) -> None:
        with lock:
            summary.add(result)
            if keep is not None and keep(result):
                kept.append(result)
            if on_result is not None:
                on_result(result)

    def worker() -> None:
        while (index := take()) is not None:
            if rate:
                delay = start + (index - 1) / rate - time.perf_counter()
                if delay > 0 and stop.wait(delay):
                    return
            record(send_one(plan, transport, index))

    workers = max(1, min(concurrency, repeat))
    try:
        if workers == 1:
            worker()
        else:
            threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(0.2)  # a short join keeps the main thread responsive to Ctrl-C
    except KeyboardInterrupt:
        stop.set()
        summary.interrupted = True
    summary.elapsed = time.perf_counter() - start
    return summary, kept
