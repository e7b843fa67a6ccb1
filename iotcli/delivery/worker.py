"""The one delivery worker: takes due outbox rows, sends them, records every attempt, applies the policy.

Each delivery kind has a policy (endpoint calls, uplink forwards, ...) that turns the stored message
into a request and decides, after each attempt, whether the delivery is done, retried or given up.
Rows change state only after the attempt is recorded, so a crash mid-attempt resends on restart
(at-least-once) rather than losing anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from typing import TYPE_CHECKING, Any, Protocol

import httpx

from iotcli.delivery.lean_http import AnswerTimeout, ConnectFailed, LeanHttpClient, ProtocolError
from iotcli.delivery.outbox import (
    DELIVERED,
    FINAL,
    PENDING,
    AttemptResult,
    Decision,
    Delivery,
    OutboundRequest,
    apply_decision,
    record_attempt,
)

if TYPE_CHECKING:
    from iotcli.emulator.clock import EmulatorClock
    from iotcli.emulator.events import EventJournal
    from iotcli.store.db import Store

log = logging.getLogger("iotcli.delivery")

#: Deliveries sent at once across all lanes.
MAX_IN_FLIGHT = 64
#: How many due rows one scan takes.
SCAN_BATCH = 128
#: Real seconds the loop waits before rescanning while attempts are in flight.
SCAN_COALESCE = 0.002


class DeliveryPolicy(Protocol):
    """What a kind of delivery sends and how it reacts to the answer."""

    async def prepare(self, delivery: Delivery) -> OutboundRequest | Decision:
        """The request to send now, or a Decision instead of sending (e.g. expired, held back)."""
        ...

    def decide(self, delivery: Delivery, result: AttemptResult) -> Decision:
        """After an attempt: delivered, pending again (with next_at), dropped or failed."""
        ...

    def lane_limit(self, delivery: Delivery) -> int:
        """How many deliveries of this delivery's lane may be in flight at once (1 keeps order)."""
        ...

    async def after(self, delivery: Delivery, result: AttemptResult | None, decision: Decision) -> None:
        """Called once the decision is committed (state changes, events, follow-up deliveries)."""
        ...


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        clock: EmulatorClock,
        events: EventJournal,
        http: httpx.AsyncClient,
        *,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self.store = store
        self.clock = clock
        self.events = events
        self.http = http
        self.policies: dict[str, DeliveryPolicy] = {}
        self._proxied: dict[str, httpx.AsyncClient] = {}
        self._lean: LeanHttpClient | None = None
        #: Tests replace the network with this transport (proxied requests included).
        self.transport: httpx.AsyncBaseTransport | None = None
        self._wake = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._lane_count: dict[str, int] = {}
        #: The last lane limit a policy gave for each lane (lets a scan skip full lanes cheaply).
        self._lane_cap: dict[str, int] = {}
        self._sem = asyncio.Semaphore(max_in_flight)
        self._max_in_flight = max_in_flight
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()

    def register(self, kind: str, policy: DeliveryPolicy) -> None:
        self.policies[kind] = policy

    def wake(self) -> None:
        """Tell the worker there is new work (after a commit that enqueued deliveries)."""
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
        for client in self._proxied.values():
            await client.aclose()
        if self._lean is not None:
            await self._lean.aclose()

    async def idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is due or in flight (for tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._in_flight:
                due = await self.store.read(
                    lambda c: c.execute(
                        "SELECT COUNT(*) FROM deliveries WHERE status = ? AND next_at <= ?",
                        (PENDING, self.clock.now()),
                    ).fetchone()[0]
                )
                if due == 0 and not self._in_flight:
                    return True
            await asyncio.sleep(0.01)
        return False

    # -- the loop -----------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._stopping:
            if self._in_flight:
                # Woken by a finished attempt: let a few more finish so one scan serves them all.
                await asyncio.sleep(SCAN_COALESCE)
            self._wake.clear()
            try:
                due, next_at = await self.store.read(self._scan)
            except Exception as exc:  # noqa: BLE001 - keep the worker alive
                log.error("delivery scan failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            started = 0
            for row in due:
                if len(self._in_flight) >= self._max_in_flight:
                    break
                lane = row["connection"]
                # Rows waiting behind a full lane are skipped before anything is built from them.
                if lane is not None and self._lane_count.get(lane, 0) >= self._lane_cap.get(lane, 1 << 30):
                    continue
                policy = self.policies.get(row["kind"])
                if policy is None:
                    continue
                delivery = Delivery.from_row(row, with_message=False)
                if lane is not None:
                    cap = max(1, policy.lane_limit(delivery))
                    self._lane_cap[lane] = cap
                    if self._lane_count.get(lane, 0) >= cap:
                        continue
                # Decoded only now: a scan sees many rows that wait behind a full lane.
                delivery.message = json.loads(row["message"])
                self._start(delivery, policy)
                started += 1
            if started and len(due) >= SCAN_BATCH and len(self._in_flight) < self._max_in_flight:
                continue
            if self._in_flight and len(self._in_flight) >= self._max_in_flight:
                # Saturated: wait for a slot (a finishing attempt sets wake).
                await self._wake.wait()
                continue
            if next_at is None:
                await self._wake.wait()
            else:
                await self.clock.sleep_until(next_at, self._wake)

    def _scan(self, conn: sqlite3.Connection) -> tuple[list[sqlite3.Row], float | None]:
        now = self.clock.now()
        in_flight = set(self._in_flight)
        rows = conn.execute(
            "SELECT * FROM deliveries WHERE status = ? AND next_at <= ? ORDER BY id LIMIT ?",
            (PENDING, now, SCAN_BATCH + len(in_flight)),
        ).fetchall()
        due = [r for r in rows if r["id"] not in in_flight]
        nxt = conn.execute(
            "SELECT MIN(next_at) FROM deliveries WHERE status = ? AND next_at > ?", (PENDING, now)
        ).fetchone()[0]
        return due, nxt

    def _start(self, delivery: Delivery, policy: DeliveryPolicy) -> None:
        lane = delivery.lane
        if lane is not None:
            self._lane_count[lane] = self._lane_count.get(lane, 0) + 1
        self._idle.clear()
        task = asyncio.create_task(self._attempt(delivery, policy))
        self._in_flight[delivery.id] = task

        def done(_t: asyncio.Task[None]) -> None:
            self._in_flight.pop(delivery.id, None)
            if lane is not None:
                self._lane_count[lane] -= 1
                if self._lane_count[lane] <= 0:
                    del self._lane_count[lane]
            if not self._in_flight:
                self._idle.set()
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

    async def _commit(self, delivery: Delivery, result: AttemptResult | None, decision: Decision) -> None:
        now = self.clock.now()

        def write(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            if result is not None:
                record_attempt(conn, delivery, result, now)
            apply_decision(conn, delivery, decision, now)
            return [self.events.stage(conn, kind, data) for kind, data in decision.events]

        staged = await self.store.write(write)
        if staged:
            self.events.publish(*staged)

    async def send(self, req: OutboundRequest) -> AttemptResult:
        """Send one request and measure it; never raises for network trouble."""
        if req.lean and req.proxy is None and req.url.startswith("http://") and self.transport is None:
            return await self._send_lean(req)
        client = self._client_for(req.proxy)
        start = time.perf_counter()
        try:
            response = await client.request(
                req.method, req.url, headers=req.headers, content=req.body or None, params=req.params or None
            )
        except httpx.TimeoutException as exc:
            return AttemptResult(
                req,
                None,
                None,
                (time.perf_counter() - start) * 1000,
                f"timeout: {type(exc).__name__}",
                unreachable=True,
            )
        except httpx.TransportError as exc:
            return AttemptResult(
                req,
                None,
                None,
                (time.perf_counter() - start) * 1000,
                f"{type(exc).__name__}: {exc}",
                unreachable=True,
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            return AttemptResult(
                req, None, None, (time.perf_counter() - start) * 1000, f"invalid request: {exc}"
            )
        latency = (time.perf_counter() - start) * 1000
        return AttemptResult(req, response.status_code, response.text, latency)

    async def _send_lean(self, req: OutboundRequest) -> AttemptResult:
        if self._lean is None:
            timeout = self.http.timeout.read or self.http.timeout.connect or 10.0
            self._lean = LeanHttpClient(timeout, self.http.headers.get("user-agent", "iotcli-emulator"))
        start = time.perf_counter()
        try:
            answer = await self._lean.request(req.method, req.url, req.headers, req.body, req.params or None)
        except AnswerTimeout as exc:
            return AttemptResult(
                req, None, None, (time.perf_counter() - start) * 1000, f"timeout: {exc}", True
            )
        except ConnectFailed as exc:
            return AttemptResult(
                req, None, None, (time.perf_counter() - start) * 1000, f"ConnectError: {exc}", True
            )
        except ValueError as exc:
            return AttemptResult(
                req, None, None, (time.perf_counter() - start) * 1000, f"invalid request: {exc}"
            )
        except (ProtocolError, ConnectionError, asyncio.IncompleteReadError, OSError) as exc:
            error = f"RemoteProtocolError: {type(exc).__name__}: {exc}"
            return AttemptResult(req, None, None, (time.perf_counter() - start) * 1000, error, True)
        latency = (time.perf_counter() - start) * 1000
        return AttemptResult(req, answer.status, answer.body.decode("utf-8", "replace"), latency)

    def _client_for(self, proxy: str | None) -> httpx.AsyncClient:
        if proxy is None:
            return self.http
        client = self._proxied.get(proxy)
        if client is None:
            client = httpx.AsyncClient(
                proxy=None if self.transport else proxy,
                transport=self.transport,
                timeout=self.http.timeout,
                trust_env=False,
            )
            self._proxied[proxy] = client
        return client

    # -- journal actions ----------------------------------------------------------------------
    async def replay(self, delivery_id: int) -> bool:
        """Make a final (failed, dropped, expired) delivery pending again, due now."""
        now = self.clock.now()

        def write(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT status FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
            if row is None or row["status"] not in FINAL - {DELIVERED}:
                return False
            conn.execute(
                "UPDATE deliveries SET status = ?, next_at = ?, updated_at = ?, reason = 'replayed' WHERE id = ?",
                (PENDING, now, now, delivery_id),
            )
            return True

        done = await self.store.write(write)
        if done:
            self.wake()
        return done

    @staticmethod
    def prune(conn: sqlite3.Connection, keep: int) -> int:
        """Delete the oldest final deliveries beyond ``keep`` (pending ones are never pruned)."""
        cur = conn.execute(
            "DELETE FROM deliveries WHERE status != ? AND id <= (SELECT MAX(id) FROM deliveries) - ?",
            (PENDING, keep),
        )
        return cur.rowcount
