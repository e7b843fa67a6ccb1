"""The callback ingest write path: calls that arrive together are written together.

A single store job per call would cost a savepoint, a device read and update, a property upsert and a
statement per record each. Here, calls that arrive while a batch is being written wait together and
go to the store as ONE job: per device one
read and one update of the connection state, the bucket records in one ``executemany``, each
property once. Every call still gets its own answer, events and outbox row, exactly as if the calls
had been written one after the other, and only once the transaction holding it is committed.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from iotcli.delivery.outbox import PENDING, Delivery, enqueue
from iotcli.emulator.auth import Principal
from iotcli.emulator.events import encode_data
from iotcli.emulator.thinger.backend.records import PRUNE_EVERY_MS, RecordTimes, prune
from iotcli.emulator.thinger.backend.state import BucketInfo, Caches, DeviceInfo, not_found

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

RECEIVED = "callback.received"

#: Calls one batch takes at most (the rest wait for the next one).
MAX_BATCH = 512

UPSERT_PROPERTY = (
    "INSERT INTO th_properties(user, device, property, doc, created, modified) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(user, device, property) DO UPDATE SET doc = excluded.doc, modified = excluded.modified"
)


@dataclass(slots=True)
class Call:
    """One callback call, checked and parsed, waiting to be written."""

    info: DeviceInfo
    principal: Principal
    now_ms: int
    ip: str | None
    rx: int
    payload: dict[str, Any]
    payload_json: str
    bucket: BucketInfo | None
    #: The explicit record time (payload or ``?ts=``); None with a bucket: the writer assigns a free one.
    #: The record stores payload_json; a payload ts equal to its time is dropped on read.
    record_ts: int | None
    notes: list[str]


@dataclass(slots=True)
class Outcome:
    answer: bytes
    events: list[dict[str, Any]] = field(default_factory=list)
    #: The endpoint call it queued (committed), for the worker to start without rescanning the outbox.
    delivery: Delivery | None = None


class IngestWriter:
    def __init__(self, emu: Emulator, caches: Caches, times: RecordTimes) -> None:
        self.emu = emu
        self.caches = caches
        self._pending: list[tuple[Call, asyncio.Future[Outcome]]] = []
        self._flushing = False
        self._task: asyncio.Task[None] | None = None  # held: the loop keeps only weak references
        #: Server-assigned record times (this writer and the bucket write route): strictly increasing.
        self.times = times
        #: (user, bucket) -> explicit record times of the running store job (not in the table yet).
        self._taken: dict[tuple[str, str], set[int]] = {}

    async def submit(self, call: Call) -> Outcome:
        """Write ``call`` (with whatever else is waiting); returns once it is committed."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Outcome] = loop.create_future()
        self._pending.append((call, fut))
        if not self._flushing:
            self._flushing = True
            self._task = loop.create_task(self._flush())
        return await fut

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                calls = [c for c, _f in batch]
                try:
                    results = await self.emu.store.write(functools.partial(self._write, calls=calls))
                except Exception as exc:  # noqa: BLE001
                    if len(batch) > 1:
                        # One bad call must not fail the others: write each on its own.
                        self._pending[:0] = batch
                        await self._flush_one_by_one(len(batch))
                        continue
                    _c, fut = batch[0]
                    if not fut.done():
                        fut.set_exception(exc)
                    continue
                for (_c, fut), result in zip(batch, results, strict=True):
                    if fut.done():
                        continue
                    if isinstance(result, Exception):
                        fut.set_exception(result)
                    else:
                        fut.set_result(result)
        finally:
            self._flushing = False

    async def _flush_one_by_one(self, count: int) -> None:
        """Write the next ``count`` waiting calls each in its own store job (after a batch failed)."""
        batch = self._pending[:count]
        del self._pending[:count]
        for call, fut in batch:
            try:
                results = await self.emu.store.write(functools.partial(self._write, calls=[call]))
            except Exception as exc:  # noqa: BLE001 - this call's caller gets it
                if not fut.done():
                    fut.set_exception(exc)
                continue
            result = results[0]
            if fut.done():
                continue
            if isinstance(result, Exception):
                fut.set_exception(result)
            else:
                fut.set_result(result)

    # -- the store job ----------------------------------------------------------------------------
    def _write(self, conn: sqlite3.Connection, calls: list[Call]) -> list[Outcome | Exception]:
        results: list[Outcome | Exception | None] = [None] * len(calls)
        self._taken = {}
        self.times.begin()
        by_device: dict[tuple[str, str], list[int]] = {}
        for i, call in enumerate(calls):
            by_device.setdefault((call.info.user, call.info.device), []).append(i)
        records: list[tuple[str, str, int, str, str]] = []
        received: list[tuple[int, int, dict[str, Any]]] = []  # (call index, time, data) of callback.received
        buckets: dict[tuple[str, str], BucketInfo] = {}
        for (user, device), indexes in by_device.items():
            row = conn.execute(
                "SELECT connected, connected_ts, disconnected_ts, last_seen, ip_address "
                "FROM th_devices WHERE user = ? AND device = ?",
                (user, device),
            ).fetchone()
            if row is None:
                for i in indexes:
                    results[i] = not_found("device", device)
                continue
            self._device_calls(
                conn, row, [calls[i] for i in indexes], indexes, results, records, buckets, received
            )
        gone = [
            key
            for key in buckets
            if conn.execute("SELECT 1 FROM th_buckets WHERE user = ? AND bucket = ?", key).fetchone() is None
        ]
        if gone:
            # Deleted (or wiped by a reset) since the calls looked it up: no orphan records.
            records = [r for r in records if (r[0], r[1]) not in gone]
        if records:
            conn.executemany(
                "INSERT OR REPLACE INTO th_bucket_data(user, bucket, ts, val, device) VALUES (?,?,?,?,?)",
                records,
            )
            now = calls[-1].now_ms
            for key, info in buckets.items():
                if (
                    info.retention_ms is not None
                    and now - self.caches.pruned_at.get(key, 0) >= PRUNE_EVERY_MS
                ):
                    prune(conn, info, now)
                    self.caches.pruned_at[key] = now
        if received:
            self._stage_received(conn, received, results)
        return [r if r is not None else RuntimeError("call not written") for r in results]

    def _stage_received(
        self,
        conn: sqlite3.Connection,
        received: list[tuple[int, int, dict[str, Any]]],
        results: list[Outcome | Exception | None],
    ) -> None:
        """The ``callback.received`` events of the batch, in one ``executemany``.

        What ``EventJournal.stage`` does per event, for many at once: the rows get consecutive ids
        (one writer, one transaction), so each event learns its id from the last one.
        """
        conn.executemany(
            "INSERT INTO events(ts, kind, data) VALUES (?, ?, ?)",
            [(ts, RECEIVED, encode_data(data)) for _i, ts, data in received],
        )
        self.emu.events.cap(conn)  # the journal cap holds at insert time
        if not self.emu.events.followed:
            return  # nobody streams the journal: the events need not be built for publishing
        last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        first = last - len(received) + 1
        for n, (i, ts, data) in enumerate(received):
            outcome = results[i]
            if isinstance(outcome, Outcome):
                outcome.events.append({"id": first + n, "ts": ts, "kind": RECEIVED, **data})

    def _device_calls(
        self,
        conn: sqlite3.Connection,
        row: sqlite3.Row,
        calls: list[Call],
        indexes: list[int],
        results: list[Outcome | Exception | None],
        records: list[tuple[str, str, int, str, str]],
        buckets: dict[tuple[str, str], BucketInfo],
        received: list[tuple[int, int, dict[str, Any]]],
    ) -> None:
        """The calls of one device, in arrival order, against its connection state."""
        token_used = self.caches.token_used
        stage = self.emu.events.stage
        first = calls[0].info
        user, device = first.user, first.device
        connected = bool(row["connected"])
        connected_ts, disconnected_ts = row["connected_ts"], row["disconnected_ts"]
        last_seen, ip = row["last_seen"], row["ip_address"]
        rx = tx = 0
        values: dict[str, bytes] = {}  # property -> its value as JSON, as the calls leave it
        props: dict[str, tuple[str, int]] = {}  # property -> (value JSON, time) to write
        for call, i in zip(calls, indexes, strict=True):
            now = call.now_ms
            events: list[dict[str, Any]] = []
            limit = call.info.timeout_ms
            if connected and limit is not None and last_seen is not None and last_seen + limit <= now:
                # Timed out and the monitor has not written it down yet: record both transitions.
                disconnected_ts = last_seen + limit
                connected = False
                events.append(
                    stage(
                        conn,
                        "device.disconnected",
                        {
                            "user": user,
                            "device": device,
                            "reason": "timeout",
                            "last_seen": last_seen,
                            "at": disconnected_ts,
                        },
                    )
                )
            if not connected:
                connected, connected_ts = True, now
                events.append(
                    stage(conn, "device.connected", {"user": user, "device": device, "ip": call.ip})
                )
            last_seen = now
            ip = call.ip or ip
            actions = call.info.actions
            done: dict[str, Any] = {}
            if call.bucket is not None:
                name = call.bucket.bucket
                ts = call.record_ts
                if ts is None:
                    ts = self.times.next(conn, user, name, now, self._taken.get((user, name)))
                else:
                    self._taken.setdefault((user, name), set()).add(ts)
                records.append((user, name, ts, call.payload_json, device))
                buckets[(user, name)] = call.bucket
                done["write_bucket"] = name
                done["record_ts"] = ts
            prop = actions.get("set_property")
            if prop:
                props[prop] = (call.payload_json, now)
                values[prop] = call.payload_json.encode("utf-8")
                done["set_property"] = prop
            delivery = None
            endpoint = actions.get("call_endpoint")
            if endpoint:
                message = {"endpoint": endpoint, "data": call.payload, "source": "callback"}
                at = now / 1000
                did = enqueue(
                    conn,
                    kind="endpoint",
                    message=message,
                    now=at,
                    user=user,
                    device=device,
                    endpoint=endpoint,
                )
                delivery = Delivery(did, "endpoint", PENDING, message, 0, at, at, user, device, endpoint)
                done["call_endpoint"] = endpoint
                done["delivery"] = str(did)
            answer = b""
            send = actions.get("send_property")
            if send:
                if send not in values:
                    values[send] = property_value(conn, user, device, send)
                answer = values[send]
            rx += call.rx
            tx += len(answer)
            token_id = call.principal.token_id
            if call.principal.kind == "device" and token_id and now - token_used.get(token_id, 0) >= 1000:
                # last_used is kept to the second [chosen]: one UPDATE per token per second, not per call.
                token_used[token_id] = now
                conn.execute(
                    "UPDATE tokens SET last_used = ? WHERE kind = 'device' AND id = ? AND user = ? AND device = ?",
                    (now, token_id, user, device),
                )
            data: dict[str, Any] = {"user": user, "device": device, "bytes": call.rx, **done}
            if call.notes:
                data["notes"] = call.notes
            results[i] = Outcome(answer, events, delivery)
            received.append((i, now, data))
        conn.execute(
            "UPDATE th_devices SET connected = 1, connected_ts = ?, disconnected_ts = ?, last_seen = ?, "
            "ip_address = ?, rx_bytes = rx_bytes + ?, tx_bytes = tx_bytes + ? WHERE user = ? AND device = ?",
            (connected_ts, disconnected_ts, last_seen, ip, rx, tx, user, device),
        )
        if props:
            # The JSON is handled here, not by SQLite's JSON functions: a value SQLite would call
            # malformed (Python takes a few more) must not fail the other calls of the batch.
            rows = []
            for name, (value, at) in props.items():
                doc = _property_doc(conn, user, device, name)
                doc["value"] = json.loads(value)
                rows.append((user, device, name, json.dumps(doc), at, at))
            conn.executemany(UPSERT_PROPERTY, rows)


def _property_doc(conn: sqlite3.Connection, user: str, device: str, prop: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT doc FROM th_properties WHERE user = ? AND device = ? AND property = ?", (user, device, prop)
    ).fetchone()
    doc: dict[str, Any] = json.loads(row[0]) if row is not None else {}
    return doc


def property_value(conn: sqlite3.Connection, user: str, device: str, prop: str) -> bytes:
    """A property's value as JSON bytes, or empty when the property (or its value) does not exist."""
    doc = _property_doc(conn, user, device, prop)
    return json.dumps(doc["value"]).encode("utf-8") if "value" in doc else b""
