"""A fleet on Locust's own master and workers (``MasterRunner`` / ``WorkerRunner``): the messages that
hand out the configuration, the devices and the budgets, and the master's summary of its workers' stats (see
``iotcli.fleet.runner`` for the protocol). Imports Locust: only ``iotcli fleet run`` imports this module."""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import locust.runners
from gevent import monkey
from locust.env import Environment
from locust.exception import RPCError

from iotcli.errors import NetworkError, UsageError
from iotcli.fleet.runner import (
    DEFAULT_PORT,
    MASTER_TIMEOUT,
    REPORT_INTERVAL,
    STOP_TIMEOUT,
    Tick,
    _ctrl_c,
    _drive,
    _inline_resolver,
    _spawn_rate,
    split,
    summary,
)
from iotcli.fleet.users import CLASS_NAME, STARTED, Budget, HttpDevice, fleet_class, fleet_size


def run_master(
    config: dict[str, Any],
    *,
    users: int,
    ramp_up: float = 0.0,
    duration: float | None = None,
    uplinks: int | None = None,
    tick: Tick | None = None,
    tick_every: float = 1.0,
    bind_host: str = "*",
    bind_port: int = DEFAULT_PORT,
    expect_workers: int = 1,
    wait_workers: float = 60.0,
    on_worker: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Locust's master: wait for ``expect_workers`` workers (``iotcli fleet run --worker``), hand them the
    fleet ``config`` (see ``iotcli.fleet.users.fleet_class``) and its devices one by one, run ``users``
    devices across them as ``run_fleet`` does, and add up their stats in the summary.

    ``on_worker(connected, expected)`` is called as workers connect. NetworkError when the port cannot be
    bound or too few workers connect within ``wait_workers`` seconds.
    """
    size = fleet_size(config)
    if users > size:
        raise UsageError(f"fleet run: {users} devices asked, the fleet has {size}")
    env = Environment(user_classes=[fleet_class(config)], stop_timeout=STOP_TIMEOUT, host=config["host"])
    try:
        runner = env.create_master_runner(master_bind_host=bind_host, master_bind_port=bind_port)
    except RPCError as exc:
        raise NetworkError(
            f"fleet run --master: cannot listen on {bind_host}:{bind_port} ({exc})",
            hint="another master runs there? pick another --master-port",
        ) from None
    free: deque[int] = deque(range(users))
    owner: dict[int, str] = {}
    done: dict[str, dict[str, Any]] = {}

    def on_claim(environment: Any, msg: Any, **_kw: Any) -> None:
        index = free.popleft() if free else None
        if index is not None:
            owner[index] = msg.node_id
        runner.send_message("fleet_assign", {"req": msg.data["req"], "index": index}, client_id=msg.node_id)

    def on_release(environment: Any, msg: Any, **_kw: Any) -> None:
        index = msg.data["index"]
        if owner.pop(index, None) is not None:
            free.appendleft(index)

    def on_done(environment: Any, msg: Any, **_kw: Any) -> None:
        done[msg.node_id] = msg.data or {}

    hello: list[str] = []  # workers ready for the fleet's configuration, in the order they said so
    configured: list[str] = []

    def on_hello(environment: Any, msg: Any, **_kw: Any) -> None:
        # A worker asks once its handlers are in place (so the configuration cannot come too early).
        if msg.node_id in configured:
            return
        if configured:  # the run has started: it joins without a share of --uplinks
            runner.send_message("fleet_config", {**config, "budget": None}, client_id=msg.node_id)
            configured.append(msg.node_id)
        elif msg.node_id not in hello:
            hello.append(msg.node_id)

    def ready() -> list[str]:
        connected = {c.id for c in runner.clients.ready}
        return [w for w in hello if w in connected]

    runner.register_message("fleet_hello", on_hello)
    runner.register_message("fleet_claim", on_claim)
    runner.register_message("fleet_release", on_release)
    runner.register_message("fleet_done", on_done)
    interrupted = False
    started = time.monotonic()
    with _ctrl_c() as stop_asked:
        try:
            deadline = time.monotonic() + wait_workers
            seen = -1
            while len(ready()) < expect_workers:
                if len(ready()) != seen:
                    seen = len(ready())
                    if on_worker is not None:
                        on_worker(seen, expect_workers)
                if stop_asked.wait(0.1):
                    raise KeyboardInterrupt
                if time.monotonic() > deadline:
                    raise NetworkError(
                        f"fleet run --master: {len(ready())} of {expect_workers} workers"
                        f" connected within {wait_workers:g} s",
                        hint=f"start them with: iotcli fleet run --worker --master-host HOST --master-port {bind_port}",
                    )
            workers = ready()
            if on_worker is not None:
                on_worker(len(workers), expect_workers)
            for worker, budget in zip(workers, split(uplinks, len(workers)), strict=True):
                runner.send_message("fleet_config", {**config, "budget": budget}, client_id=worker)
                configured.append(worker)
            runner.start(users, spawn_rate=_spawn_rate(users, ramp_up))
            interrupted, started = _drive(
                env, stop_asked, duration=duration, uplinks=uplinks, tick=tick, tick_every=tick_every
            )
        except KeyboardInterrupt:
            interrupted = True
        finally:
            _stop_workers(runner, configured, done)
            runner.quit()
    result = summary(env, time.monotonic() - started)
    result["interrupted"] = interrupted
    result["users"] = users
    result["workers"] = len(configured)
    result["per_worker"] = [done.get(w, {}) for w in configured]
    result["unfinished"] = sum(int(d.get("unfinished", 0)) for d in done.values())
    return result


def _stop_workers(runner: Any, workers: list[str], done: dict[str, Any]) -> None:
    """Ask each worker to stop (uplinks in flight finish) and wait for its last stats and ``fleet_done``."""
    for worker in workers:
        runner.send_message("fleet_stop", None, client_id=worker)
    alive = {c.id for c in runner.clients.all}
    deadline = time.monotonic() + STOP_TIMEOUT + 5
    while time.monotonic() < deadline:
        waiting = [w for w in workers if w not in done and w in alive]
        if not waiting:
            return
        gevent.sleep(0.05)
        alive = {c.id for c in runner.clients.all}


class _MasterPool:
    """A worker's side of the master's device pool: ``claim`` asks the master for a device number."""

    def __init__(self, runner: Any) -> None:
        self.runner = runner
        self.pending: dict[int, gevent.event.AsyncResult] = {}
        self.ids = itertools.count()

    def claim(self) -> int | None:
        req = next(self.ids)
        answer = gevent.event.AsyncResult()
        self.pending[req] = answer
        try:
            self.runner.send_message("fleet_claim", {"req": req})
            return answer.get(timeout=30)  # type: ignore[no-any-return]
        except gevent.Timeout:
            return None
        finally:
            self.pending.pop(req, None)

    def release(self, index: int) -> None:
        self.runner.send_message("fleet_release", {"index": index})

    def on_assign(self, environment: Any, msg: Any, **_kw: Any) -> None:
        answer = self.pending.get(msg.data["req"])
        if answer is not None:
            answer.set(msg.data["index"])


def run_worker(
    master_host: str,
    master_port: int = DEFAULT_PORT,
    *,
    connect_timeout: float = 30.0,
    on_config: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Locust's worker: connect to the master (NetworkError when none answers within ``connect_timeout``
    seconds), simulate the devices it hands out until it says stop; this worker's own counts."""
    try:
        # The unpatched lookup: gevent's resolver is chosen when the fleet's targets are known.
        monkey.get_original("socket", "getaddrinfo")(master_host, master_port)
    except OSError as exc:
        raise NetworkError(
            f"fleet run --worker: cannot resolve the master's host {master_host!r} ({exc})"
        ) from None
    locust.runners.CONNECT_TIMEOUT = 1
    locust.runners.CONNECT_RETRY_COUNT = max(0, math.ceil(connect_timeout) - 1)
    locust.runners.WORKER_REPORT_INTERVAL = REPORT_INTERVAL
    locust.runners.MASTER_HEARTBEAT_TIMEOUT = MASTER_TIMEOUT
    # Until the master's configuration comes, a user of this class has no device and stops at once.
    unconfigured = type(CLASS_NAME, (HttpDevice,), {"abstract": False, "host": "http://127.0.0.1"})
    env = Environment(user_classes=[unconfigured], stop_timeout=STOP_TIMEOUT)
    counts = {"sent": 0, "ok": 0, "errors": 0}

    def on_request(exception: Any = None, **_kw: Any) -> None:
        counts["sent"] += 1
        counts["ok" if exception is None else "errors"] += 1

    env.events.request.add_listener(on_request)
    try:
        runner = env.create_worker_runner(master_host, master_port)
    except (ConnectionError, RPCError, OSError) as exc:
        raise NetworkError(
            f"fleet run --worker: no master answered at {master_host}:{master_port}"
            f" within {connect_timeout:g} s" + (f" ({exc})" if str(exc) else ""),
            hint="start `iotcli fleet run --master` there first (or check --master-host/--master-port)",
        ) from None
    pool = _MasterPool(runner)
    stopped = gevent.event.Event()
    config: dict[str, Any] = {}

    def on_fleet_config(environment: Any, msg: Any, **_kw: Any) -> None:
        config.update(msg.data)
        user_class = fleet_class(msg.data, pool)
        _inline_resolver(user_class)
        budget = msg.data.get("budget")
        user_class.budget = Budget(budget) if budget is not None else None
        env.user_classes = [user_class]
        if on_config is not None:
            on_config(msg.data)

    def on_fleet_stop(environment: Any, msg: Any, **_kw: Any) -> None:
        runner.stop()  # uplinks in flight finish (stop_timeout)
        send_stats = getattr(runner, "_send_stats", None)
        if send_stats is not None:
            send_stats()  # the last stats reach the master before fleet_done (one socket, in order)
        else:
            gevent.sleep(REPORT_INTERVAL + 0.5)
        unfinished = max(0, STARTED.get(id(env), 0) - counts["sent"])
        runner.send_message("fleet_done", {**counts, "unfinished": unfinished})
        stopped.set()

    runner.register_message("fleet_assign", pool.on_assign)
    runner.register_message("fleet_config", on_fleet_config)
    runner.register_message("fleet_stop", on_fleet_stop, concurrent=True)
    runner.send_message("fleet_hello", None)  # now the master may send the configuration
    interrupted = False
    with _ctrl_c() as stop_asked:
        while len(runner.greenlet):
            if stop_asked.wait(0.1):
                interrupted = True
                runner.stop()
                getattr(runner, "_send_stats", lambda: None)()
                env.events.quitting.fire(environment=env, reverse=True)  # tells the master this worker quits
                runner.quit()
                break
    if not interrupted and not stopped.is_set():
        raise NetworkError(
            f"fleet run --worker: lost the master at {master_host}:{master_port}"
            f" (no heartbeat for {MASTER_TIMEOUT} s)"
        )
    unfinished = max(0, STARTED.pop(id(env), 0) - counts["sent"])
    return {
        **counts,
        "unfinished": unfinished,
        "interrupted": interrupted,
        "worker_index": runner.worker_index,
    }
