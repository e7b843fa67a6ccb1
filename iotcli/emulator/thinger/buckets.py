"""Bucket routes: create, list, read, update, delete; write, read (v1, v2, aggregated) and delete records;
the device-scoped bucket routes (``/v3/users/{user}/devices/{device}/buckets``)."""

from __future__ import annotations

import json
import math
import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import MAX_EPOCH_MS, ok, path_id, read_json, read_json_object
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.bucket_query import (
    DEFAULT_ITEMS,
    MAX_ITEMS,
    ReadQuery,
    aggregate,
    bound,
    parse_read_query,
    shape,
)
from iotcli.emulator.thinger.documents import LIST_QUERY, Documents, commit, list_filter
from iotcli.emulator.thinger.service import (
    BucketInfo,
    ThingerService,
    account_user,
    not_found,
)
from iotcli.emulator.thinger.validation import request_schema, validate

routes = RouteTable("thinger", tag="buckets")

BUCKETS = "/v1/users/{user}/buckets"
BUCKET = "/v1/users/{user}/buckets/{bucket}"
DATA_V1 = "/v1/users/{user}/buckets/{bucket}/data"
DATA_V2 = "/v2/users/{user}/buckets/{bucket}/data"
DEVICE_BUCKETS = "/v3/users/{user}/devices/{device}/buckets"
DEVICE_DATA = "/{version}/users/{user}/devices/{device}/buckets/{bucket}/data"

CLEARABLE = {"asset_type", "asset_group", "product"}
#: Emulated ms between retention prunes of one bucket on the write path (reads always apply retention).
PRUNE_EVERY_MS = 60_000


BUCKET_DOCS = Documents("th_buckets", "bucket")


# -- records: shared with the callback ingest ---------------------------------------------------


def query_ts(raw: str | None) -> int | None:
    """``?ts=``: epoch ms, or None when absent, empty or ``0`` (= now, as the official HTTP-device plugin
    sends [source: thinger-io/plugins http-device/task/app.js]); 400 for anything else."""
    if not raw:
        return None
    try:
        ts = int(raw)
    except ValueError:
        raise ApiProblem(400, f"query parameter 'ts' must be epoch milliseconds, got '{raw[:32]}'") from None
    if ts == 0:
        return None
    if not 0 < ts <= MAX_EPOCH_MS:
        raise ApiProblem(
            400, f"query parameter 'ts' must be epoch milliseconds between 1 and {MAX_EPOCH_MS} (0 = now)"
        )
    return ts


def record_ts(payload: dict[str, Any], query_ms: int | None) -> int | None:
    """The explicit record time: payload ``ts`` (epoch ms), else ``?ts=`` (see ``query_ts``) [source];
    None: the server assigns one (see ``RecordTimes``). A payload ``ts`` that is not a positive number
    up to ``MAX_EPOCH_MS`` (year 9999) is kept as data, like any other field.
    """
    value = payload.get("ts")
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value <= MAX_EPOCH_MS
    ):
        return int(value)
    return query_ms


class RecordTimes:
    """Record times the server assigns: strictly increasing within a bucket, never on a taken ts [chosen].

    Two readings arriving in the same millisecond would otherwise share a ts, and the second would
    replace the first. Runs inside the store job that writes the record (one writer, so no races).
    Taken times are read a window at a time (one range query per bucket per job, not one per record).
    """

    WINDOW = 1024

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], int] = {}
        #: (user, bucket) -> (low, high, times taken in [low, high)) as read in the running store job.
        self._seen: dict[tuple[str, str], tuple[int, int, set[int]]] = {}

    def begin(self) -> None:
        """A new store job: what was read of the table before may have changed."""
        self._seen.clear()

    def next(
        self, conn: sqlite3.Connection, user: str, bucket: str, now_ms: int, taken: set[int] | None = None
    ) -> int:
        """A free time at or after ``now_ms``, after every time assigned before in this bucket.

        ``taken``: times of this job's records that are not in the table yet.
        """
        key = (user, bucket)
        ts = max(now_ms, self._last.get(key, 0) + 1)
        while True:
            low, high, in_table = self._seen.get(key, (0, 0, set()))
            if not low <= ts < high:
                low, high = ts, ts + self.WINDOW
                rows = conn.execute(
                    "SELECT ts FROM th_bucket_data WHERE user = ? AND bucket = ? AND ts >= ? AND ts < ?",
                    (user, bucket, low, high),
                )
                in_table = {r[0] for r in rows}
                self._seen[key] = (low, high, in_table)
            if ts in in_table or (taken is not None and ts in taken):
                ts += 1
                continue
            break
        self._last[key] = ts
        return ts

    def forget(self, user: str, bucket: str) -> None:
        self._last.pop((user, bucket), None)

    def clear(self) -> None:
        self._last.clear()
        self._seen.clear()


def record_value(val: Any, ts: int) -> Any:
    """A record's value as shown: the stored payload without the ``ts`` that became the record time.

    Records store the payload as sent (one JSON encoding on the hot path); the payload's ``ts``
    is the record time exactly when it is a number that truncates to it, so it is dropped here.
    """
    if isinstance(val, dict):
        own = val.get("ts")
        if (
            isinstance(own, int | float)
            and not isinstance(own, bool)
            and math.isfinite(own)
            and int(own) == ts
        ):
            return {k: v for k, v in val.items() if k != "ts"}
    return val


def check_writable(info: BucketInfo | None, bucket: str) -> BucketInfo:
    if info is None:
        raise not_found("bucket", bucket)
    if not info.writable:
        raise ApiProblem(
            400,
            f"bucket '{bucket}' takes its data from '{info.source}': only 'api' and 'write' buckets take writes",
        )
    if not info.enabled:
        raise ApiProblem(400, f"bucket '{bucket}' is disabled")
    return info


def write_record(
    conn: sqlite3.Connection,
    svc: ThingerService,
    info: BucketInfo,
    ts: int | None,
    val_json: str,
    now_ms: int,
) -> int:
    """Store one record (an explicit ``ts`` replaces; None: the server assigns a free time) and, now
    and then, prune records past the retention. Returns the record's ts."""
    if BUCKET_DOCS.fetch(conn, info.user, info.bucket) is None:
        raise not_found("bucket", info.bucket)  # deleted since it was looked up
    if ts is None:
        times = svc.ingest_writer.times
        times.begin()
        ts = times.next(conn, info.user, info.bucket, now_ms)
    conn.execute(
        "INSERT OR REPLACE INTO th_bucket_data(user, bucket, ts, val, device) VALUES (?,?,?,?,NULL)",
        (info.user, info.bucket, ts, val_json),
    )
    if info.retention_ms is not None:
        key = (info.user, info.bucket)
        if now_ms - svc.pruned_at.get(key, 0) >= PRUNE_EVERY_MS:
            prune(conn, info, now_ms)
            svc.pruned_at[key] = now_ms
    return ts


def records_in_range(
    user: str, bucket: str, min_ts: int | None, max_ts: int | None, device: str | None = None
) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (and its arguments) of a bucket's records in ``[min_ts, max_ts]`` (None: no bound),
    optionally only those one device's callback wrote: reads, range deletes and exports share it."""
    sql = "WHERE user = ? AND bucket = ?"
    args: list[Any] = [user, bucket]
    if device is not None:
        sql += " AND device = ?"
        args.append(device)
    if min_ts is not None:
        sql += " AND ts >= ?"
        args.append(min_ts)
    if max_ts is not None:
        sql += " AND ts <= ?"
        args.append(max_ts)
    return sql, args


def prune(conn: sqlite3.Connection, info: BucketInfo, now_ms: int) -> int:
    if info.retention_ms is None:
        return 0
    cur = conn.execute(
        "DELETE FROM th_bucket_data WHERE user = ? AND bucket = ? AND ts < ?",
        (info.user, info.bucket, now_ms - info.retention_ms),
    )
    return cur.rowcount


# -- bucket configuration -------------------------------------------------------------------------


@routes.post(BUCKETS, summary="Create a bucket", body=request_schema("post", BUCKETS))
async def create_bucket(request: Request) -> Response:
    """``bucket``, ``name``, ``enabled`` and ``config`` are required [source]."""
    emu, svc, user = await account_user(request)
    body = await read_json(request)
    validate("post", BUCKETS, body)
    bucket = str(body["bucket"])
    doc = {k: v for k, v in body.items() if k != "bucket"}
    doc.setdefault("description", "")
    now = emu.clock.now_ms()

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        data = BUCKET_DOCS.insert(conn, user, bucket, doc, now)
        event = emu.events.stage(
            conn, "bucket.created", {"user": user, "bucket": bucket, "source": doc["config"].get("source")}
        )
        return data, event

    return await commit(emu, write, lambda: svc.forget_bucket(user, bucket))


@routes.get(BUCKETS, summary="List buckets", query=LIST_QUERY)
async def list_buckets(request: Request) -> Response:
    """Every bucket of the user, ordered by id; ``name``, ``count`` and ``index`` as in the device list."""
    emu, _svc, user = await account_user(request)
    keep = list_filter(request, "bucket")
    return ok(await emu.store.read(lambda c: keep(BUCKET_DOCS.list(c, user))))


@routes.get(BUCKET, summary="Read a bucket's configuration")
async def read_bucket(request: Request) -> Response:
    emu, _svc, user = await account_user(request)
    bucket = path_id(request, "bucket")
    return ok(await emu.store.read(lambda c: BUCKET_DOCS.show(BUCKET_DOCS.get(c, user, bucket))))


@routes.put(BUCKET, summary="Update a bucket (partial)", body=request_schema("put", BUCKET))
async def update_bucket(request: Request) -> Response:
    """Change the given fields; ``""`` clears asset_type, asset_group and product. ``bucket`` cannot change."""
    emu, svc, user = await account_user(request)
    bucket = path_id(request, "bucket")
    body = await read_json(request)
    if not isinstance(body, dict):
        validate("put", BUCKET, body)
    rest = BUCKET_DOCS.changes(body, bucket)
    validate("put", BUCKET, rest)
    now = emu.clock.now_ms()

    def merge(doc: dict[str, Any]) -> dict[str, Any]:
        for key, value in rest.items():
            if key in CLEARABLE and value == "":
                doc.pop(key, None)
            else:
                doc[key] = value
        return doc

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        data = BUCKET_DOCS.update(conn, user, bucket, merge, now)
        event = emu.events.stage(
            conn, "bucket.updated", {"user": user, "bucket": bucket, "fields": sorted(rest)}
        )
        return data, event

    return await commit(emu, write, lambda: svc.forget_bucket(user, bucket))


@routes.delete(BUCKET, summary="Delete a bucket and its records")
async def delete_bucket(request: Request) -> Response:
    emu, svc, user = await account_user(request)
    bucket = path_id(request, "bucket")

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        data = BUCKET_DOCS.delete(conn, user, bucket)
        conn.execute("DELETE FROM th_bucket_data WHERE user = ? AND bucket = ?", (user, bucket))
        conn.execute("DELETE FROM th_bucket_exports WHERE user = ? AND bucket = ?", (user, bucket))
        event = emu.events.stage(conn, "bucket.deleted", {"user": user, "bucket": bucket})
        return data, event

    def forget() -> None:
        svc.forget_bucket(user, bucket)
        svc.ingest_writer.times.forget(user, bucket)

    return await commit(emu, write, forget)


# -- records -------------------------------------------------------------------------------------


@routes.post(
    DATA_V1,
    summary="Write one record",
    body=request_schema("post", DATA_V1),
    query={"ts": "record time (epoch ms) when the body has no ts; 0 or empty = now"},
)
async def write_data(request: Request) -> Response:
    """The record time is the body's ``ts`` (epoch ms), else ``?ts=``, else a free time from now;
    an explicit ts replaces the record with that ts."""
    emu, svc, user = await account_user(request)
    bucket = path_id(request, "bucket")
    payload = await read_json_object(request)
    info = check_writable(await svc.bucket_info(user, bucket), bucket)
    now = emu.clock.now_ms()
    when = record_ts(payload, query_ts(request.query_params.get("ts")))
    val_json = json.dumps(payload)
    stored = await emu.store.write(lambda c: write_record(c, svc, info, when, val_json, now))
    return ok({"ts": stored, "val": record_value(payload, stored)})


READ_QUERY = {
    "items": f"records (or intervals) per answer (default {DEFAULT_ITEMS}, max {MAX_ITEMS})",
    "min_ts": "only records at or after this time (epoch ms; 0 or empty = no bound)",
    "max_ts": "only records at or before this time (epoch ms; 0 or empty = no bound)",
    "sort": "asc or desc (default desc: newest first)",
    "agg": "aggregate into intervals: <N><unit>, unit s, m, h, d, w, mo or y (e.g. 1h)",
    "agg_type": "what each interval reports per numeric field: count, mean (default), median, mode, "
    "spread, stddev, max, min, sum",
    "tz": "IANA time zone the intervals are laid out in (default UTC)",
}


async def read_records(
    emu: Any, svc: ThingerService, user: str, bucket: str, query: ReadQuery, inline: bool, device: str | None
) -> list[dict[str, Any]]:
    """The records (or aggregated intervals) of a read; ``device``: only the records its callback wrote."""
    info = await svc.bucket_info(user, bucket)
    if info is None:
        raise not_found("bucket", bucket)
    now = emu.clock.now_ms()
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
                return [{"ts": ts, **v} if isinstance(v, dict) else {"ts": ts, "val": v} for ts, v in values]
            return [{"ts": ts, "val": v} for ts, v in values]
        cursor = conn.execute(sql, args)
        rows_iter = ((r[0], record_value(json.loads(r[1]), r[0])) for r in cursor)
        out = aggregate(rows_iter, query.interval, query.agg_type, query.items, desc)
        cursor.close()
        return shape(out, query.agg_type, inline)

    result: list[dict[str, Any]] = await emu.store.read(read)
    return result


async def _read(request: Request, inline: bool) -> Response:
    emu, svc, user = await account_user(request)
    bucket = path_id(request, "bucket")
    query = parse_read_query(request)
    return ok(await read_records(emu, svc, user, bucket, query, inline, None))


@routes.get(
    DATA_V1, summary="Read records as {ts, val}, or aggregated as {<agg_type>: {...}, ts}", query=READ_QUERY
)
async def read_data_v1(request: Request) -> Response:
    return await _read(request, inline=False)


@routes.get(DATA_V2, summary="Read records with their fields inline: {ts, ...fields}", query=READ_QUERY)
async def read_data_v2(request: Request) -> Response:
    return await _read(request, inline=True)


@routes.delete(
    DATA_V1,
    summary="Delete records: those between min_ts and max_ts, or every record when no range is given",
    query={
        "min_ts": "delete records at or after this time (epoch ms; 0 or empty = no bound)",
        "max_ts": "delete records at or before this time (epoch ms; 0 or empty = no bound)",
    },
)
async def clear_data(request: Request) -> Response:
    """No range clears the bucket [chosen]; a range deletes the records in it (both ends included)."""
    emu, svc, user = await account_user(request)
    bucket = path_id(request, "bucket")
    min_ts, max_ts = bound(request, "min_ts"), bound(request, "max_ts")

    def write(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        if BUCKET_DOCS.fetch(conn, user, bucket) is None:
            raise not_found("bucket", bucket)
        where, args = records_in_range(user, bucket, min_ts, max_ts)
        cur = conn.execute(f"DELETE FROM th_bucket_data {where}", args)
        data: dict[str, Any] = {"user": user, "bucket": bucket, "records": cur.rowcount}
        if min_ts is not None or max_ts is not None:
            data.update(min_ts=min_ts, max_ts=max_ts)
        event = emu.events.stage(conn, "bucket.cleared", data)
        return cur.rowcount, event

    deleted, event = await emu.store.write(write)
    emu.events.publish(event)
    answer: dict[str, Any] = {"bucket": bucket, "deleted": deleted}
    if min_ts is not None or max_ts is not None:
        answer.update(min_ts=min_ts, max_ts=max_ts)
    return ok(answer)


# -- device-scoped buckets -----------------------------------------------------------------------


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
    for doc in BUCKET_DOCS.list(conn, user):
        config = doc.get("config") or {}
        if doc["bucket"] == written or config.get("device") == device:
            out.append(doc)
    return out


@routes.get(DEVICE_BUCKETS, summary="List a device's buckets", query=LIST_QUERY)
async def list_device_buckets(request: Request) -> Response:
    """Shown like the bucket list; ``name``, ``count`` and ``index`` as there."""
    emu, _svc, user = await account_user(request)
    device = path_id(request, "device")
    keep = list_filter(request, "bucket")
    return ok(await emu.store.read(lambda c: keep(device_buckets(c, user, device))))


@routes.get(
    DEVICE_DATA, summary="Read the records a device wrote into a bucket (v1, v2, v3)", query=READ_QUERY
)
async def read_device_data(request: Request) -> Response:
    """The bucket read, limited to the records this device's callback wrote [chosen]; v3 answers as v2 [chosen]."""
    emu, svc, user = await account_user(request)
    version = path_id(request, "version")
    device = path_id(request, "device")
    bucket = path_id(request, "bucket")
    if version not in ("v1", "v2", "v3"):
        raise ApiProblem(404, f"API version '{version}' not found: use v1, v2 or v3")
    query = parse_read_query(request)
    known = await emu.store.read(
        lambda c: c.execute(
            "SELECT 1 FROM th_devices WHERE user = ? AND device = ?", (user, device)
        ).fetchone()
    )
    if known is None:
        raise not_found("device", device)
    return ok(await read_records(emu, svc, user, bucket, query, version != "v1", device))
