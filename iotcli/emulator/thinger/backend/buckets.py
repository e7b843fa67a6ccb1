"""Buckets: their configuration (a document resource), writing, reading (raw or aggregated) and
deleting records, and the buckets of a device."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from iotcli.emulator.thinger.backend.documents import DocumentResource, Documents
from iotcli.emulator.thinger.backend.records import (
    RecordTimes,
    check_writable,
    prune,
    query_ts,
    record_ts,
    record_value,
    records_in_range,
    write_record,
)
from iotcli.emulator.thinger.backend.state import Caches, not_found, require_device
from iotcli.emulator.thinger.bucket_query import ReadQuery, aggregate, shape

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

#: Fields a PUT may clear with "" [source: the update schema allows an empty string for them].
CLEARABLE = {"asset_type", "asset_group", "product"}

BUCKET_DOCS = Documents("th_buckets", "bucket")


class Buckets:
    """The bucket backend (``ThingerBackend.buckets``)."""

    def __init__(self, emu: Emulator, caches: Caches, times: RecordTimes) -> None:
        self.emu = emu
        self.caches = caches
        #: Server-assigned record times, shared with the callback ingest: strictly increasing.
        self.times = times
        self.docs = DocumentResource(
            emu, BUCKET_DOCS, lambda scope, name: caches.forget_bucket(scope[0], name)
        )

    # -- configuration ----------------------------------------------------------------------------
    async def create(self, user: str, bucket: str, doc: dict[str, Any]) -> dict[str, Any]:
        doc.setdefault("description", "")
        data = {"user": user, "bucket": bucket, "source": doc["config"].get("source")}
        return await self.docs.create((user,), bucket, doc, "bucket.created", data)

    async def all(self, user: str) -> list[dict[str, Any]]:
        return await self.docs.all((user,))

    async def read(self, user: str, bucket: str) -> dict[str, Any]:
        return await self.docs.read((user,), bucket)

    async def update(self, user: str, bucket: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change the given fields; ``""`` clears asset_type, asset_group and product."""

        def merge(doc: dict[str, Any]) -> dict[str, Any]:
            for key, value in changes.items():
                if key in CLEARABLE and value == "":
                    doc.pop(key, None)
                else:
                    doc[key] = value
            return doc

        data = {"user": user, "bucket": bucket, "fields": sorted(changes)}
        return await self.docs.update((user,), bucket, merge, "bucket.updated", data)

    async def delete(self, user: str, bucket: str) -> dict[str, Any]:
        """The bucket, its records and its exports."""

        def also(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM th_bucket_data WHERE user = ? AND bucket = ?", (user, bucket))
            conn.execute("DELETE FROM th_bucket_exports WHERE user = ? AND bucket = ?", (user, bucket))

        shown = await self.docs.delete(
            (user,), bucket, "bucket.deleted", {"user": user, "bucket": bucket}, also
        )
        self.times.forget(user, bucket)
        return shown

    # -- records ----------------------------------------------------------------------------------
    async def write(
        self, user: str, bucket: str, payload: dict[str, Any], query_ts_text: str | None
    ) -> dict[str, Any]:
        """One record at the body's ``ts`` (epoch ms), else ``?ts=`` (``query_ts_text``), else a free time
        from now; an explicit ts replaces the record with that ts. Answers ``{"ts", "val"}`` as stored."""
        info = check_writable(await self.caches.buckets.get(user, bucket), bucket)
        now = self.emu.clock.now_ms()
        when = record_ts(payload, query_ts(query_ts_text))
        val_json = json.dumps(payload)
        times, pruned_at = self.times, self.caches.pruned_at
        stored = await self.emu.store.write(
            lambda c: write_record(c, info, when, val_json, now, times, pruned_at)
        )
        return {"ts": stored, "val": record_value(payload, stored)}

    async def read_records(
        self, user: str, bucket: str, query: ReadQuery, inline: bool, device: str | None
    ) -> list[dict[str, Any]]:
        """The records (or aggregated intervals) of a read; ``device``: only the records its callback wrote."""
        info = await self.caches.buckets.get(user, bucket)
        if info is None:
            raise not_found("bucket", bucket)
        now = self.emu.clock.now_ms()
        min_ts, max_ts = query.min_ts, query.max_ts
        if info.retention_ms is not None:
            cutoff = now - info.retention_ms
            min_ts = cutoff if min_ts is None else max(min_ts, cutoff)
        desc = query.sort == "desc"

        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            prune(conn, info, now)
            where, args = records_in_range(user, bucket, min_ts, max_ts, device)
            sql = f"SELECT ts, val FROM th_bucket_data {where}"
            sql += f" ORDER BY ts {'DESC' if desc else 'ASC'}"
            if query.interval is None or query.agg_type is None:
                rows = conn.execute(sql + " LIMIT ?", [*args, query.items]).fetchall()
                values = [(r[0], record_value(json.loads(r[1]), r[0])) for r in rows]
                if inline:
                    return [
                        {"ts": ts, **v} if isinstance(v, dict) else {"ts": ts, "val": v} for ts, v in values
                    ]
                return [{"ts": ts, "val": v} for ts, v in values]
            cursor = conn.execute(sql, args)
            rows_iter = ((r[0], record_value(json.loads(r[1]), r[0])) for r in cursor)
            out = aggregate(rows_iter, query.interval, query.agg_type, query.items, desc)
            cursor.close()
            return shape(out, query.agg_type, inline)

        result: list[dict[str, Any]] = await self.emu.store.read(read)
        return result

    async def read_device_records(
        self, user: str, device: str, bucket: str, query: ReadQuery, inline: bool
    ) -> list[dict[str, Any]]:
        """The read, limited to the records this device's callback wrote (404 for an unknown device)."""
        await self.emu.store.read(lambda c: require_device(c, user, device))
        return await self.read_records(user, bucket, query, inline, device)

    async def clear(self, user: str, bucket: str, min_ts: int | None, max_ts: int | None) -> dict[str, Any]:
        """Delete the records in ``[min_ts, max_ts]``; no range clears the bucket. Answers
        ``{"bucket", "deleted"}`` (and the range, when one was given)."""
        ranged = min_ts is not None or max_ts is not None

        def write(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
            if BUCKET_DOCS.fetch(conn, (user,), bucket) is None:
                raise not_found("bucket", bucket)
            where, args = records_in_range(user, bucket, min_ts, max_ts)
            cur = conn.execute(f"DELETE FROM th_bucket_data {where}", args)
            data: dict[str, Any] = {"user": user, "bucket": bucket, "records": cur.rowcount}
            if ranged:
                data.update(min_ts=min_ts, max_ts=max_ts)
            return cur.rowcount, self.emu.events.stage(conn, "bucket.cleared", data)

        deleted = await self.docs.commit(write)
        answer: dict[str, Any] = {"bucket": bucket, "deleted": deleted}
        if ranged:
            answer.update(min_ts=min_ts, max_ts=max_ts)
        return answer

    # -- the buckets of a device ------------------------------------------------------------------
    async def of_device(self, user: str, device: str) -> list[dict[str, Any]]:
        return await self.emu.store.read(lambda c: device_buckets(c, user, device))


def device_buckets(conn: sqlite3.Connection, user: str, device: str) -> list[dict[str, Any]]:
    """The device's buckets: the one its callback writes, and those whose config names it [chosen]."""
    row = conn.execute(
        "SELECT callback FROM th_devices WHERE user = ? AND device = ?", (user, device)
    ).fetchone()
    if row is None:
        raise not_found("device", device)
    callback = json.loads(row["callback"]) if row["callback"] else {}
    written = (callback.get("actions") or {}).get("write_bucket")
    out = []
    for doc in BUCKET_DOCS.list(conn, (user,)):
        config = doc.get("config") or {}
        if doc["bucket"] == written or config.get("device") == device:
            out.append(doc)
    return out
