"""Bucket export routes: ``/v1/users/{user}/buckets/{bucket}/exports[/{file}]`` (create, list, download, delete).

The emulator builds an export at once, in the request: the answer already names the finished file,
which ``GET .../exports/{file}`` returns [chosen] (``backend/exports.py`` says how the real server differs).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import ok, path_id, read_json
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.parse import account_user
from iotcli.emulator.thinger.validation import request_schema, validate

routes = RouteTable("thinger", tag="buckets")

EXPORTS = "/v1/users/{user}/buckets/{bucket}/exports"
EXPORT = "/v1/users/{user}/buckets/{bucket}/exports/{file}"


def _bound(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    return int(value) if value else None  # 0 or missing: no bound [source: clients send 0 for "all"]


@routes.post(
    EXPORTS,
    summary="Export a bucket's records as a CSV, JSON or ARFF file",
    body=request_schema("post", EXPORTS),
)
async def create_export(request: Request) -> Response:
    """Body ``{data_type, timestamp_format, min_ts, max_ts, callback, endpoint}`` (all optional; csv and
    milliseconds by default). The file is made at once; the answer names it (``file``) [chosen]."""
    th, user = await account_user(request)
    bucket = path_id(request, "bucket")
    body = await read_json(request)
    validate("post", EXPORTS, body)
    data_type = body.get("data_type") or "csv"
    ts_format = body.get("timestamp_format") or "milliseconds"
    min_ts, max_ts = _bound(body, "min_ts"), _bound(body, "max_ts")
    callback = body.get("callback")
    endpoint = body.get("endpoint")
    if callback == "endpoint" and not endpoint:
        raise ApiProblem(400, "field 'endpoint' is required when 'callback' is 'endpoint'")
    base = str(request.base_url).rstrip("/")
    export = await th.exports.create(
        user, bucket, data_type, ts_format, min_ts, max_ts, callback, endpoint, base
    )
    return ok(export)


@routes.get(EXPORTS, summary="List a bucket's exports")
async def list_exports(request: Request) -> Response:
    th, user = await account_user(request)
    return ok(await th.exports.all(user, path_id(request, "bucket")))


@routes.get(EXPORT, summary="Download an export file")
async def read_export(request: Request) -> Response:
    th, user = await account_user(request)
    bucket = path_id(request, "bucket")
    file = path_id(request, "file")
    content, ext, media = await th.exports.file(user, bucket, file)
    headers = {"Content-Disposition": f'attachment; filename="{bucket}-{file}.{ext}"'}
    return Response(content, 200, media_type=media, headers=headers)


@routes.delete(EXPORT, summary="Delete an export file")
async def delete_export(request: Request) -> Response:
    th, user = await account_user(request)
    bucket = path_id(request, "bucket")
    return ok(await th.exports.delete(user, bucket, path_id(request, "file")))
