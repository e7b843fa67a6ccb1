"""The one delivery worker: takes due outbox rows, sends them, records every attempt, applies the policy.

Each delivery kind has a policy (endpoint calls, uplink forwards, ...) that turns the stored message
into a request and decides, after each attempt, whether the delivery is done, retried or given up.
Rows change state only after the attempt is recorded, so a crash mid-attempt resends on restart
(at-least-once) rather than losing anything.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import sqlite3
import time
from typing import TYPE_CHECKING

import httpx

from iotcli.delivery import outbox
from iotcli.delivery.commits import OutcomeCommits
from iotcli.delivery.outbox import (
    PENDING,
    AttemptResult,
    Decision,
    Delivery,
    JournalCap,
    OutboundRequest,
)
from iotcli.delivery.protocols import Clock, DeliveryPolicy, HttpClient, Journal
from iotcli.delivery.sender import Sender

if TYPE_CHECKING:
    from iotcli.store.db import Store

log = logging.getLogger("iotcli.delivery")

#: Deliveries sent at once across all lanes.
MAX_IN_FLIGHT = 64
#: How many due rows one scan takes.
SCAN_BATCH = 128
#: Real seconds the loop waits before rescanning while attempts are in flight.
SCAN_COALESCE = 0.002
#: Handed-over deliveries kept in memory waiting for room; beyond this the outbox scan takes over.
MAX_WAITING = 2048

__all__ = ["DeliveryPolicy", "DeliveryWorker"]


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        events: Journal,
        http: httpx.AsyncClient,
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
        max_deliveries: int | None = None,
        fast_client: HttpClient | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.events = events
        self.http = http
        self.policies: dict[str, DeliveryPolicy] = {}
        #: Every attempt goes out through this (one path, one error mapping).
        self.sender = Sender(http, fast=fast_client)
        #: Finished deliveries beyond ``max_deliveries`` go as attempts are recorded (None: only the pruner).
        self.cap = JournalCap(max_deliveries)
        self.commits = OutcomeCommits(store, events, self.cap)
        self._wake = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._lane_count: dict[str, int] = {}
        #: The last lane limit a policy gave for each lane (lets a scan skip full lanes cheaply).
        self._lane_cap: dict[str, int] = {}
        self._max_in_flight = max_in_flight
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        #: The loop rescans the outbox only when this is set (start, wake(), a timer, a backlog).
        self._scan_needed = True
        self._scanning = False
        #: The last scan (or a later hand-off) left due rows unstarted: finished attempts rescan.
        self._backlog = False
        #: The earliest future next_at known (from the last scan and later decisions).
        self._next_at: float | None = None
        #: The earliest next_at noted while a scan ran (the scan's own answer may predate it).
        self._noted: float | None = None
        #: Deliveries handed over while a scan was running: started once it returns.
        self._handed: list[tuple[Delivery, DeliveryPolicy]] = []
        #: Handed-over deliveries waiting for room, per lane, oldest first (a scan replaces them).
        self._waiting: dict[str | None, collections.deque[tuple[Delivery, DeliveryPolicy]]] = {}
        self._waiting_count = 0
        #: Ids of recently finished attempts: a late hand-off never starts one twice.
        self._finished: dict[int, None] = {}

    @property
    def transport(self) -> httpx.AsyncBaseTransport | None:
        """Tests replace the network with this transport (proxied requests included)."""
        return self.sender.transport

    @transport.setter
    def transport(self, transport: httpx.AsyncBaseTransport | None) -> None:
        self.sender.transport = transport

    def register(self, kind: str, policy: DeliveryPolicy) -> None:
        self.policies[kind] = policy

    def wake(self) -> None:
        """Tell the worker there is new work (after a commit that enqueued deliveries).

        The next scan decides from the outbox: handed-over deliveries still waiting are left to it.
        """
        self._waiting.clear()
        self._waiting_count = 0
        self._scan_needed = True
        self._wake.set()

    def hand_off(self, deliveries: list[Delivery]) -> None:
        """Committed pending deliveries, due now: start them without rescanning the outbox.

        They wait in memory, in order, for room in their lane. While older due rows wait in the
        outbox (a backlog), or for a lane that takes one at a time (its order is kept by the scan),
        or when too many wait, everything is left to a scan instead: the rows are committed.
        """
        for delivery in deliveries:
            policy = self.policies.get(delivery.kind)
            if policy is None or self._stopping:
                self.wake()
            elif self._scanning:
                # The running scan may or may not see it: decide once it returns.
                self._handed.append((delivery, policy))
                self._wake.set()
            else:
                self._queue_handed(delivery, policy)

    def _queue_handed(self, delivery: Delivery, policy: DeliveryPolicy) -> None:
        if self._backlog:
            return  # committed: the scan that follows the rows waiting now takes it, in order
        if self._waiting_count >= MAX_WAITING:
            self._backlog = True  # the rows waiting start first, then a scan reads on
            return
        self._wait(delivery, policy)
        self._drain(delivery.lane)

    def _wait(self, delivery: Delivery, policy: DeliveryPolicy) -> None:
        """Keep ``delivery`` in memory behind the others of its lane until there is room."""
        queue = self._waiting.get(delivery.lane)
        if queue is None:
            queue = self._waiting[delivery.lane] = collections.deque()
        queue.append((delivery, policy))
        self._waiting_count += 1

    def _to_scan(self) -> None:
        """Leave every handed-over delivery to a scan of the outbox (it sees them: they are committed)."""
        self._waiting.clear()
        self._waiting_count = 0
        self._backlog = True
        self.wake()

    def _drain(self, lane: str | None) -> None:
        """Start the handed-over deliveries of ``lane``, oldest first, while it has room."""
        queue = self._waiting.get(lane)
        while queue and not self._stopping and len(self._in_flight) < self._max_in_flight:
            delivery, policy = queue[0]
            if delivery.id in self._in_flight or delivery.id in self._finished:
                queue.popleft()
                self._waiting_count -= 1
                continue
            if lane is not None:
                cap = max(1, policy.lane_limit(delivery))
                self._lane_cap[lane] = cap
                if cap == 1:
                    self._to_scan()
                    return
                if self._lane_count.get(lane, 0) >= cap:
                    return
            queue.popleft()
            self._waiting_count -= 1
            self._start(delivery, policy)
        if queue is not None and not queue:
            del self._waiting[lane]

    def note_pending(self, next_at: float | None) -> None:
        """A committed pending delivery is due at ``next_at``: make sure the loop wakes then.

        Cheaper than ``wake()`` for a delivery due later (a waiting reconnect, a retry): nothing is
        rescanned now.
        """
        if next_at is None or next_at <= self.clock.now():
            self.wake()
            return
        if self._scanning:
            # The running scan may have read the outbox before this commit: its next time must not
            # replace this one.
            self._noted = next_at if self._noted is None else min(self._noted, next_at)
        if self._next_at is None or next_at < self._next_at:
            self._next_at = next_at
            self._wake.set()

    # -- life cycle ---------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="delivery-worker")

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Stop taking new work; wait up to ``drain_seconds`` for attempts in flight."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._in_flight:
            await asyncio.wait(list(self._in_flight.values()), timeout=drain_seconds)
        for task in list(self._in_flight.values()):
            task.cancel()
        await self.sender.aclose()

    async def idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is due or in flight (for tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._in_flight:
                due = await self.store.read(lambda c: outbox.due_count(c, self.clock.now()))
                if due == 0 and not self._in_flight:
                    return True
            await asyncio.sleep(0.01)
        return False

    # -- the loop -----------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._stopping:
            if self._scan_needed:
                await self._scan_and_start()
                if self._scan_needed:
                    continue
            if self._next_at is None:
                await self._wake.wait()
            else:
                await self.clock.sleep_until(self._next_at, self._wake)
                if self._next_at is not None and self.clock.now() >= self._next_at:
                    self._scan_needed = True
            self._wake.clear()

    async def _scan_and_start(self) -> None:
        if self._in_flight:
            # Woken by a finished attempt: let a few more finish so one scan serves them all.
            await asyncio.sleep(SCAN_COALESCE)
        self._scan_needed = False
        self._wake.clear()
        self._scanning = True
        self._noted = None
        # The scan sees every handed-over delivery (committed before it was handed over).
        self._waiting.clear()
        self._waiting_count = 0
        try:
            due, next_at = await self.store.read(self._scan)
        except Exception as exc:  # noqa: BLE001 - keep the worker alive
            log.error("delivery scan failed: %s", exc)
            self._scanning = False
            self._scan_needed = True
            await asyncio.sleep(0.5)
            return
        self._scanning = False
        noted, self._noted = self._noted, None
        self._next_at = next_at if noted is None else noted if next_at is None else min(next_at, noted)
        started = 0
        left = False
        for row in due:
            lane = row["connection"]
            # Rows behind a lane that takes one at a time are left to the next scan (it keeps their
            # order while the lane recovers) before anything is built from them.
            if lane is not None and self._lane_cap.get(lane) == 1 and self._lane_count.get(lane, 0) >= 1:
                left = True
                continue
            policy = self.policies.get(row["kind"])
            if policy is None:
                continue
            delivery = Delivery.from_row(row)
            if lane is not None:
                cap = max(1, policy.lane_limit(delivery))
                self._lane_cap[lane] = cap
                if self._lane_count.get(lane, 0) >= cap:
                    if cap == 1:
                        left = True
                    else:
                        self._wait(delivery, policy)
                    continue
            if len(self._in_flight) >= self._max_in_flight:
                self._wait(delivery, policy)
                continue
            self._start(delivery, policy)
            started += 1
        full = len(due) >= SCAN_BATCH
        # Rows the scan read but could not start wait in memory, in order, and start as attempts
        # finish; the outbox is scanned again once they have all started (each row is read once).
        self._backlog = left or full
        handed, self._handed = self._handed, []
        for delivery, policy in handed:
            self._queue_handed(delivery, policy)
        if self._backlog:
            if started and full and not self._waiting_count and len(self._in_flight) < self._max_in_flight:
                self._scan_needed = True
            elif not self._in_flight:
                # Nothing running will wake the loop: look again shortly.
                self._scan_needed = True
                await asyncio.sleep(SCAN_COALESCE)

    def _scan(self, conn: sqlite3.Connection) -> tuple[list[sqlite3.Row], float | None]:
        in_flight = set(self._in_flight)
        rows, nxt = outbox.due(conn, self.clock.now(), SCAN_BATCH + len(in_flight))
        return [r for r in rows if r["id"] not in in_flight], nxt

    def _start(self, delivery: Delivery, policy: DeliveryPolicy) -> None:
        lane = delivery.lane
        if lane is not None:
            self._lane_count[lane] = self._lane_count.get(lane, 0) + 1
        task = asyncio.create_task(self._attempt(delivery, policy))
        self._in_flight[delivery.id] = task

        def done(_t: asyncio.Task[None]) -> None:
            self._in_flight.pop(delivery.id, None)
            self._finished[delivery.id] = None
            if len(self._finished) > 4096:
                del self._finished[next(iter(self._finished))]
            if lane is not None:
                self._lane_count[lane] -= 1
                if self._lane_count[lane] <= 0:
                    del self._lane_count[lane]
            if self._waiting_count:
                if lane in self._waiting:
                    self._drain(lane)
                for other in list(self._waiting):
                    self._drain(other)
            if (
                self._backlog
                and not self._scanning
                and (not self._waiting_count or lane not in self._waiting)
            ):
                # The rows in memory have started (or this lane has none): read on from the outbox.
                # (Not while a scan runs: its rows are about to wait in memory, and a second scan
                # would throw them away and read them again.)
                self._scan_needed = True
            self._wake.set()

        task.add_done_callback(done)

    async def _attempt(self, delivery: Delivery, policy: DeliveryPolicy) -> None:
        try:
            prepared = await policy.prepare(delivery)
            if isinstance(prepared, Decision):
                await self._commit(delivery, None, prepared)
                await policy.after(delivery, None, prepared)
                return
            result = await self.send(prepared)
            decision = policy.decide(delivery, result)
            await self._commit(delivery, result, decision)
            await policy.after(delivery, result, decision)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad delivery must not stop the others
            log.error("delivery %s failed in the worker: %s: %s", delivery.id, type(exc).__name__, exc)
            retry = Decision(
                PENDING, next_at=self.clock.now() + 60, reason=f"internal error: {exc}", count_attempt=False
            )
            with contextlib.suppress(Exception):
                await self._commit(delivery, None, retry)
            self.wake()

    async def _commit(self, delivery: Delivery, result: AttemptResult | None, decision: Decision) -> None:
        """Record the attempt and apply the decision (with the others of this loop turn); returns once
        committed."""
        staged = await self.commits.commit(delivery, result, decision, self.clock.now())
        if decision.status == PENDING:
            self.note_pending(decision.next_at)
        if staged:
            self.events.publish(*staged)

    async def send(self, req: OutboundRequest) -> AttemptResult:
        """Send one request and measure it; never raises for network trouble."""
        return await self.sender.send(req)

    # -- journal actions ----------------------------------------------------------------------
    async def replay(self, delivery_id: int) -> bool:
        """Make a final (failed, dropped, expired) delivery pending again, due now."""
        now = self.clock.now()
        done = await self.store.write(lambda conn: outbox.replay(conn, delivery_id, now))
        if done:
            self.wake()
        return done

    #: Delete the oldest final deliveries beyond ``keep`` (the pruner's rule; pending ones never).
    prune = staticmethod(outbox.prune)
