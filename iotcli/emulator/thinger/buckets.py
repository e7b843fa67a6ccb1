"""Bucket routes: create, list, read, update, delete; write, read (v1, v2) and clear records."""

from __future__ import annotations

import json
import math
import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import MAX_EPOCH_MS, ok, path_id, query_int, read_json, read_json_object
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.documents import Documents, commit
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

CLEARABLE = {"asset_type", "asset_group", "product"}
DEFAULT_ITEMS, MAX_ITEMS = 100, 1000
#: Emulated ms between retention prunes of one bucket on the write path (reads always apply retention).
PRUNE_EVERY_MS = 60_000


BUCKET_DOCS = Documents("th_buckets", "bucket")


# -- records: shared with the callback ingest ---------------------------------------------------


def record_ts(payload: dict[str, Any], query_ts: str | None, now_ms: int) -> tuple[int, bool]:
    """The record time: payload ``ts`` (epoch ms), else ``?ts=``, else now [source].

    Returns (ts, taken_from_payload). A payload ``ts`` that is not a positive number up to
    ``MAX_EPOCH_MS`` (year 9999) is kept as data, like any other field.
    """
    value = payload.get("ts")
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value <= MAX_EPOCH_MS
    ):
        return int(value), True
    if query_ts:
        try:
            ts = int(query_ts)
        except ValueError:
            raise ApiProblem(
                400, f"query parameter 'ts' must be epoch milliseconds, got '{query_ts[:32]}'"
            ) from None
        if not 0 < ts <= MAX_EPOCH_MS:
            raise ApiProblem(
                400, f"query parameter 'ts' must be epoch milliseconds between 1 and {MAX_EPOCH_MS}"
            )
        return ts, False
    return now_ms, False


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
    conn: sqlite3.Connection, svc: ThingerService, info: BucketInfo, ts: int, val_json: str, now_ms: int
) -> None:
    """Store one record (same ts replaces) and, now and then, prune records past the retention."""
    if BUCKET_DOCS.fetch(conn, info.user, info.bucket) is None:
        raise not_found("bucket", info.bucket)  # deleted since it was looked up
    conn.execute(
        "INSERT OR REPLACE INTO th_bucket_data(user, bucket, ts, val) VALUES (?,?,?,?)",
        (info.user, info.bucket, ts, val_json),
    )
    if info.retention_ms is not None:
        key = (info.user, info.bucket)
        if now_ms - svc.pruned_at.get(key, 0) >= PRUNE_EVERY_MS:
            prune(conn, info, now_ms)
            svc.pruned_at[key] = now_ms


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


@routes.get(BUCKETS, summary="List buckets")
async def list_buckets(request: Request) -> Response:
    emu, _svc, user = await account_user(request)
    return ok(await emu.store.read(lambda c: BUCKET_DOCS.list(c, user)))


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
        event = emu.events.stage(conn, "bucket.deleted", {"user": user, "bucket": bucket})
        return data, event

    return await commit(emu, write, lambda: svc.forget_bucket(user, bucket))


# -- records -------------------------------------------------------------------------------------


@routes.post(
    DATA_V1,
    summary="Write one record",
    body=request_schema("post", DATA_V1),
    query={"ts": "record time (epoch ms) when the body has no ts"},
)
async def write_data(request: Request) -> Response:
    """The record time is the body's ``ts`` (epoch ms), else ``?ts=``, else now; the same ts replaces."""
    emu, svc, user = await account_user(request)
    bucket = path_id(request, "bucket")
    payload = await read_json_object(request)
    info = check_writable(await svc.bucket_info(user, bucket), bucket)
    now = emu.clock.now_ms()
    ts, _from_payload = record_ts(payload, request.query_params.get("ts"), now)
    val_json = json.dumps(payload)
    await emu.store.write(lambda c: write_record(c, svc, info, ts, val_json, now))
    return ok({"ts": ts, "val": record_value(payload, ts)})


READ_QUERY = {
    "items": f"records per answer (default {DEFAULT_ITEMS}, max {MAX_ITEMS})",
    "min_ts": "only records at or after this time (epoch ms)",
    "max_ts": "only records at or before this time (epoch ms)",
    "sort": "asc or desc (default desc: newest first)",
}


async def _read(request: Request, inline: bool) -> Response:
    emu, svc, user = await account_user(request)
    bucket = path_id(request, "bucket")
    items = query_int(request, "items", DEFAULT_ITEMS, minimum=1, maximum=MAX_ITEMS) or DEFAULT_ITEMS
    min_ts = query_int(request, "min_ts", None)
    max_ts = query_int(request, "max_ts", None)
    sort = (request.query_params.get("sort") or "desc").lower()
    if sort not in ("asc", "desc"):
        raise ApiProblem(400, f"query parameter 'sort' must be 'asc' or 'desc', got '{sort[:16]}'")
    info = await svc.bucket_info(user, bucket)
    if info is None:
        raise not_found("bucket", bucket)
    now = emu.clock.now_ms()
    if info.retention_ms is not None:
        cutoff = now - info.retention_ms
        min_ts = cutoff if min_ts is None else max(min_ts, cutoff)

    def read(conn: sqlite3.Connection) -> list[tuple[int, str]]:
        prune(conn, info, now)
        sql = "SELECT ts, val FROM th_bucket_data WHERE user = ? AND bucket = ?"
        args: list[Any] = [user, bucket]
        if min_ts is not None:
            sql += " AND ts >= ?"
            args.append(min_ts)
        if max_ts is not None:
            sql += " AND ts <= ?"
            args.append(max_ts)
        sql += f" ORDER BY ts {'ASC' if sort == 'asc' else 'DESC'} LIMIT ?"
        args.append(items)
        return [(r[0], r[1]) for r in conn.execute(sql, args)]

    rows = await emu.store.read(read)
    values = [(ts, record_value(json.loads(val), ts)) for ts, val in rows]
    if inline:
        return ok([{"ts": ts, **v} if isinstance(v, dict) else {"ts": ts, "val": v} for ts, v in values])
    return ok([{"ts": ts, "val": v} for ts, v in values])


@routes.get(DATA_V1, summary="Read records as {ts, val}", query=READ_QUERY)
async def read_data_v1(request: Request) -> Response:
    return await _read(request, inline=False)


@routes.get(DATA_V2, summary="Read records with their fields inline: {ts, ...fields}", query=READ_QUERY)
async def read_data_v2(request: Request) -> Response:
    return await _read(request, inline=True)


@routes.delete(DATA_V1, summary="Clear every record of a bucket")
async def clear_data(request: Request) -> Response:
    emu, svc, user = await account_user(request)
    bucket = path_id(request, "bucket")

    def write(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
        if BUCKET_DOCS.fetch(conn, user, bucket) is None:
            raise not_found("bucket", bucket)
        cur = conn.execute("DELETE FROM th_bucket_data WHERE user = ? AND bucket = ?", (user, bucket))
        event = emu.events.stage(
            conn, "bucket.cleared", {"user": user, "bucket": bucket, "records": cur.rowcount}
        )
        return cur.rowcount, event

    deleted, event = await emu.store.write(write)
    emu.events.publish(event)
    return ok({"bucket": bucket, "deleted": deleted})
