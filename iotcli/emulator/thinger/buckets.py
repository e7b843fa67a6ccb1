"""Bucket routes: create, list, read, update, delete; write, read (v1, v2, aggregated) and delete records;
the device-scoped bucket routes (``/v3/users/{user}/devices/{device}/buckets``)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import ok, path_id, read_json, read_json_object
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.backend.buckets import BUCKET_DOCS
from iotcli.emulator.thinger.bucket_query import (
    AGG_RE,
    AGG_TYPES,
    DEFAULT_ITEMS,
    MAX_ITEMS,
    bound,
    parse_read_query,
    time_zones,
)
from iotcli.emulator.thinger.parse import LIST_QUERY, account_user, epoch_ms, integer, list_filter
from iotcli.emulator.thinger.validation import request_schema, validate

routes = RouteTable("thinger", tag="buckets")

BUCKETS = "/v1/users/{user}/buckets"
BUCKET = "/v1/users/{user}/buckets/{bucket}"
DATA_V1 = "/v1/users/{user}/buckets/{bucket}/data"
DATA_V2 = "/v2/users/{user}/buckets/{bucket}/data"
DEVICE_BUCKETS = "/v3/users/{user}/devices/{device}/buckets"
DEVICE_DATA = "/{version}/users/{user}/devices/{device}/buckets/{bucket}/data"


# -- bucket configuration -------------------------------------------------------------------------


@routes.post(BUCKETS, summary="Create a bucket", body=request_schema("post", BUCKETS))
async def create_bucket(request: Request) -> Response:
    """``bucket``, ``name``, ``enabled`` and ``config`` are required [source]."""
    th, user = await account_user(request)
    body = await read_json(request)
    validate("post", BUCKETS, body)
    doc = {k: v for k, v in body.items() if k != "bucket"}
    return ok(await th.buckets.create(user, str(body["bucket"]), doc))


@routes.get(BUCKETS, summary="List buckets", query=LIST_QUERY)
async def list_buckets(request: Request) -> Response:
    """Every bucket of the user, ordered by id; ``name``, ``count`` and ``index`` as in the device list."""
    th, user = await account_user(request)
    keep = list_filter(request, "bucket")
    return ok(keep(await th.buckets.all(user)))


@routes.get(BUCKET, summary="Read a bucket's configuration")
async def read_bucket(request: Request) -> Response:
    th, user = await account_user(request)
    return ok(await th.buckets.read(user, path_id(request, "bucket")))


@routes.put(BUCKET, summary="Update a bucket (partial)", body=request_schema("put", BUCKET))
async def update_bucket(request: Request) -> Response:
    """Change the given fields; ``""`` clears asset_type, asset_group and product. ``bucket`` cannot change."""
    th, user = await account_user(request)
    bucket = path_id(request, "bucket")
    body = await read_json(request)
    if not isinstance(body, dict):
        validate("put", BUCKET, body)
    rest = BUCKET_DOCS.changes(body, bucket)
    validate("put", BUCKET, rest)
    return ok(await th.buckets.update(user, bucket, rest))


@routes.delete(BUCKET, summary="Delete a bucket and its records")
async def delete_bucket(request: Request) -> Response:
    th, user = await account_user(request)
    return ok(await th.buckets.delete(user, path_id(request, "bucket")))


# -- records -------------------------------------------------------------------------------------


@routes.post(
    DATA_V1,
    summary="Write one record",
    body=request_schema("post", DATA_V1),
    query={"ts": epoch_ms("record time (epoch ms) when the body has no ts; 0 or empty = now")},
)
async def write_data(request: Request) -> Response:
    """The record time is the body's ``ts`` (epoch ms), else ``?ts=``, else a free time from now;
    an explicit ts replaces the record with that ts."""
    th, user = await account_user(request)
    bucket = path_id(request, "bucket")
    payload = await read_json_object(request)
    return ok(await th.buckets.write(user, bucket, payload, request.query_params.get("ts")))


READ_QUERY: dict[str, str | dict[str, Any]] = {
    "items": integer(
        f"records (or intervals) per answer (default {DEFAULT_ITEMS}, max {MAX_ITEMS})", 1, MAX_ITEMS
    ),
    "min_ts": epoch_ms("only records at or after this time (epoch ms; 0 or empty = no bound)"),
    "max_ts": epoch_ms("only records at or before this time (epoch ms; 0 or empty = no bound)"),
    "sort": {
        "type": "string",
        "enum": ["asc", "desc"],
        "description": "asc or desc (default desc: newest first)",
    },
    "agg": {
        "type": "string",
        "pattern": AGG_RE.pattern,
        "description": "aggregate into intervals: <N><unit>, unit s, m, h, d, w, mo or y (e.g. 1h)",
    },
    "agg_type": {
        "type": "string",
        "enum": list(AGG_TYPES),
        "description": "what each interval reports per numeric field (needs agg): count, mean (default), "
        "median, mode, spread, stddev, max, min, sum",
    },
    "tz": {
        "type": "string",
        "enum": time_zones,  # listed when the document is built (see RouteSpec.query)
        "description": "IANA time zone the intervals are laid out in (default UTC)",
    },
}


async def _read(request: Request, inline: bool) -> Response:
    th, user = await account_user(request)
    bucket = path_id(request, "bucket")
    query = parse_read_query(request)
    return ok(await th.buckets.read_records(user, bucket, query, inline, None))


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
        "min_ts": epoch_ms("delete records at or after this time (epoch ms; 0 or empty = no bound)"),
        "max_ts": epoch_ms("delete records at or before this time (epoch ms; 0 or empty = no bound)"),
    },
)
async def clear_data(request: Request) -> Response:
    """No range clears the bucket [chosen]; a range deletes the records in it (both ends included)."""
    th, user = await account_user(request)
    bucket = path_id(request, "bucket")
    min_ts, max_ts = bound(request, "min_ts"), bound(request, "max_ts")
    return ok(await th.buckets.clear(user, bucket, min_ts, max_ts))


# -- device-scoped buckets -----------------------------------------------------------------------


@routes.get(DEVICE_BUCKETS, summary="List a device's buckets", query=LIST_QUERY)
async def list_device_buckets(request: Request) -> Response:
    """The bucket its callback writes and those whose config names it, shown like the bucket list;
    ``name``, ``count`` and ``index`` as there."""
    th, user = await account_user(request)
    device = path_id(request, "device")
    keep = list_filter(request, "bucket")
    return ok(keep(await th.buckets.of_device(user, device)))


@routes.get(
    DEVICE_DATA, summary="Read the records a device wrote into a bucket (v1, v2, v3)", query=READ_QUERY
)
async def read_device_data(request: Request) -> Response:
    """The bucket read, limited to the records this device's callback wrote [chosen]; v3 answers as v2 [chosen]."""
    th, user = await account_user(request)
    version = path_id(request, "version")
    device = path_id(request, "device")
    bucket = path_id(request, "bucket")
    if version not in ("v1", "v2", "v3"):
        raise ApiProblem(404, f"API version '{version}' not found: use v1, v2 or v3")
    query = parse_read_query(request)
    return ok(await th.buckets.read_device_records(user, device, bucket, query, version != "v1"))
