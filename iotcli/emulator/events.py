"""The event journal: ingress and state changes, kept in SQLite and streamed to followers.

Never put a secret in an event: tokens, keys and passwords stay out of ``data``. ``id``, ``ts`` and
``kind`` are the journal's own keys: a ``data`` key of the same name is overridden (name it ``uplink``,
``downlink``, ... instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from typing import Any, Protocol

from iotcli.emulator.clock import EmulatorClock
from iotcli.emulator.settings import EmulatorSettings
from iotcli.models.masking import mask_url
from iotcli.store.db import Store

#: A follower that falls this far behind is dropped rather than letting memory grow.
FOLLOWER_QUEUE = 10_000
JOURNAL_KEYS = frozenset({"id", "ts", "kind"})


#: Event data as stored: anything JSON cannot encode is written as its ``str``. Built once (``json.dumps``
#: with options would build an encoder per event).
encode_data = json.JSONEncoder(default=str).encode

#: Rows the insert-time cap deletes at most per insert (a large excess goes in the pruner's chunks).
CAP_STEP = 256
#: Rejected requests: one event per (source, reason) per this many seconds; the rest are counted.
SAMPLE_INTERVAL = 10.0


class RejectionSampler:
    """Counts rejected requests and lets one event per key (source and reason) through per interval,
    so a flood of bad requests cannot push the real history out of the capped journal."""

    def __init__(self, interval: float = SAMPLE_INTERVAL, max_keys: int = 10_000) -> None:
        self.interval = interval
        self.max_keys = max_keys
        self.total = 0
        #: key -> (time of the last recorded event, rejections since then not recorded)
        self._seen: dict[tuple[Any, ...], tuple[float, int]] = {}

    def admit(self, key: tuple[Any, ...]) -> int | None:
        """None: count it, record nothing. Else record it, noting this many suppressed since the last one."""
        self.total += 1
        now = time.monotonic()
        last = self._seen.get(key)
        if last is not None and now - last[0] < self.interval:
            self._seen[key] = (last[0], last[1] + 1)
            return None
        if len(self._seen) >= self.max_keys:
            self._seen.clear()  # bounded memory: many sources at once only lose their counts
        self._seen[key] = (now, 0)
        return last[1] if last is not None else 0


def mask_urls(data: dict[str, Any]) -> dict[str, Any]:
    """URLs in event data (keys named ``...url``, one level of nesting too) without credentials."""
    out = data
    for key, value in data.items():
        masked = value
        if isinstance(value, str) and "url" in key.lower():
            masked = mask_url(value)
        elif isinstance(value, dict) and any("url" in k.lower() for k in value):
            masked = mask_urls(value)
        if masked is not value:
            if out is data:
                out = dict(data)
            out[key] = masked
    return out


#: Put in each follower's queue when the journal closes (the emulator is stopping): its stream ends.
CLOSED: dict[str, Any] = {"id": -1, "kind": "journal.closed"}


class JournalHost(Protocol):
    """What the journal uses of the Emulator (a Protocol, so this module does not import ``core``)."""

    clock: EmulatorClock
    settings: EmulatorSettings
    store: Store


class EventJournal:
    def __init__(self, emu: JournalHost) -> None:
        self.emu = emu
        self._followers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.rejections = RejectionSampler()
        #: Every event id up to this one is deleted (the insert-time cap's progress).
        self._floor = 0

    def stage(self, conn: sqlite3.Connection, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """Insert an event inside a store transaction; ``publish`` it once the transaction committed."""
        ts = self.emu.clock.now_ms()
        data = mask_urls(data)
        cur = conn.execute(
            "INSERT INTO events(ts, kind, data) VALUES (?, ?, ?)", (ts, kind, encode_data(data))
        )
        self.cap(conn, cur.lastrowid)
        return _event(cur.lastrowid, ts, kind, data)

    def cap(self, conn: sqlite3.Connection, last_id: int | None = None) -> None:
        """Keep the journal within ``--journal-max-events`` at insert time, not only when the pruner runs."""
        if last_id is None:
            last_id = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
        keep = self.emu.settings.max_events
        if last_id is None or last_id - self._floor <= keep:
            return
        if self._floor == 0:  # the first time: from the oldest event there is
            oldest = conn.execute("SELECT MIN(id) FROM events").fetchone()[0]
            self._floor = max((oldest or 1) - 1, 0)
            if last_id - self._floor <= keep:
                return
        upto = min(last_id - keep, self._floor + CAP_STEP)
        conn.execute("DELETE FROM events WHERE id <= ?", (upto,))
        self._floor = upto

    @property
    def followed(self) -> bool:
        """Someone streams the journal now (events need building for ``publish`` only then)."""
        return bool(self._followers)

    def publish(self, *events: dict[str, Any]) -> None:
        for event in events:
            for q in list(self._followers):
                try:
                    q.put_nowait(event)
                except asyncio.QueueFull:
                    self._followers.discard(q)

    async def record(self, kind: str, **data: Any) -> dict[str, Any]:
        """Store one event and publish it to followers."""
        event = await self.emu.store.write(lambda conn: self.stage(conn, kind, data))
        self.publish(event)
        return event

    def follow(self) -> asyncio.Queue[dict[str, Any]]:
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=FOLLOWER_QUEUE)
        self._followers.add(q)
        return q

    def unfollow(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        self._followers.discard(q)

    def following(self, q: asyncio.Queue[dict[str, Any]]) -> bool:
        """False once ``q`` was dropped (too far behind) or the journal closed: its stream should end."""
        return q in self._followers

    def close(self) -> None:
        """End every follower's stream (a server stops only when its streaming answers end)."""
        for q in list(self._followers):
            with contextlib.suppress(asyncio.QueueFull):
                q.put_nowait(CLOSED)
        self._followers.clear()

    async def list(
        self, *, after: int | None = None, kind: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Events in id order: the oldest ``limit`` after ``after`` (paging), or the newest ``limit`` without it."""

        def query(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            sql = "SELECT id, ts, kind, data FROM events WHERE id > ?"
            args: list[Any] = [after or 0]
            if kind:
                sql += " AND (kind = ? OR kind LIKE ?)"
                args += [kind, kind + ".%"]
            sql += " ORDER BY id ASC LIMIT ?" if after is not None else " ORDER BY id DESC LIMIT ?"
            args.append(limit)
            rows = conn.execute(sql, args).fetchall()
            if after is None:
                rows.reverse()
            return [_event(r["id"], r["ts"], r["kind"], json.loads(r["data"])) for r in rows]

        return await self.emu.store.read(query)

    def prune(self, conn: sqlite3.Connection, keep: int, limit: int = 2**62) -> int:
        """Delete the oldest events beyond ``keep``, at most ``limit`` of them."""
        cur = conn.execute(
            "DELETE FROM events WHERE id <= MIN((SELECT MAX(id) FROM events) - ?, (SELECT MIN(id) FROM events) + ? - 1)",
            (keep, limit),
        )
        return cur.rowcount


def _event(event_id: int | None, ts: int, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """The journal's own keys win: followers order and de-duplicate events by the integer id."""
    return {
        "id": event_id,
        "ts": ts,
        "kind": kind,
        **{k: v for k, v in data.items() if k not in JOURNAL_KEYS},
    }
