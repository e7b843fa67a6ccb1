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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

#: A follower that falls this far behind is dropped rather than letting memory grow.
FOLLOWER_QUEUE = 10_000
JOURNAL_KEYS = frozenset({"id", "ts", "kind"})


#: Event data as stored: anything JSON cannot encode is written as its ``str``. Built once (``json.dumps``
#: with options would build an encoder per event).
encode_data = json.JSONEncoder(default=str).encode

#: Put in each follower's queue when the journal closes (the emulator is stopping): its stream ends.
CLOSED: dict[str, Any] = {"id": -1, "kind": "journal.closed"}


class EventJournal:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._followers: set[asyncio.Queue[dict[str, Any]]] = set()

    def stage(self, conn: sqlite3.Connection, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """Insert an event inside a store transaction; ``publish`` it once the transaction committed."""
        ts = self.emu.clock.now_ms()
        cur = conn.execute(
            "INSERT INTO events(ts, kind, data) VALUES (?, ?, ?)", (ts, kind, encode_data(data))
        )
        return _event(cur.lastrowid, ts, kind, data)

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
