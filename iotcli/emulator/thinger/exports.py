"""Bucket exports: ``/v1/users/{user}/buckets/{bucket}/exports[/{file}]`` (create, list, download, delete).

The real server builds an export in the background and announces it (``bucket_export_completed`` on the
event websocket, then an email or an endpoint call) [source: thinger-io/Docs features/buckets.md,
thinger-io/node-red-contrib-thinger nodes/bucket-export.js]. The emulator builds it at once, in the
request: the answer already names the finished file, which ``GET .../exports/{file}`` returns [chosen].
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.delivery.outbox import PENDING, Delivery, enqueue
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import ok, path_id, read_json
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.buckets import BUCKET_DOCS, prune, record_value, records_in_range
from iotcli.emulator.thinger.service import account_user, exists, not_found
from iotcli.emulator.thinger.validation import request_schema, validate

routes = RouteTable("thinger", tag="buckets")

EXPORTS = "/v1/users/{user}/buckets/{bucket}/exports"
EXPORT = "/v1/users/{user}/buckets/{bucket}/exports/{file}"

#: data_type -> (file extension, media type)
FORMATS = {"csv": ("csv", "text/csv"), "json": ("json", "application/json"), "arff": ("arff", "text/plain")}
EMAIL_NOTE = "the emulator sends no email: the export is listed in GET .../exports"


def format_ts(ts: int, fmt: str) -> int | float | str:
    """A record time as ``timestamp_format`` asks: milliseconds (default), seconds or ISO 8601 (UTC)."""
    if fmt == "seconds":
        return ts // 1000 if ts % 1000 == 0 else ts / 1000
    if fmt == "iso":
        return datetime.fromtimestamp(ts / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return ts


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _columns(rows: list[tuple[int, Any]]) -> tuple[list[str], bool]:
    """The union of the records' fields in order of first appearance; and whether any value is not an object."""
    fields: dict[str, None] = {}
    scalar = False
    for _ts, val in rows:
        if isinstance(val, dict):
            for key in val:
                fields.setdefault(key, None)
        else:
            scalar = True
    return list(fields), scalar


def render(rows: list[tuple[int, Any]], data_type: str, ts_format: str, bucket: str) -> bytes:
    """The export file. CSV: a ``ts`` column, one column per field (nested values as JSON), ``val`` for
    records that are not objects; JSON: an array of ``{"ts", "val"}``; ARFF: the same columns [chosen]."""
    if data_type == "json":
        data = [{"ts": format_ts(ts, ts_format), "val": val} for ts, val in rows]
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    fields, scalar = _columns(rows)
    if data_type == "arff":
        return _arff(rows, fields, scalar, ts_format, bucket).encode("utf-8")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["ts", *fields] + (["val"] if scalar else []))
    for ts, val in rows:
        row = [_cell(format_ts(ts, ts_format))]
        row += [_cell(val.get(k)) if isinstance(val, dict) else "" for k in fields]
        if scalar:
            row.append("" if isinstance(val, dict) else _cell(val))
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


def _arff(rows: list[tuple[int, Any]], fields: list[str], scalar: bool, ts_format: str, bucket: str) -> str:
    def number(v: Any) -> bool:
        return isinstance(v, int | float) and not isinstance(v, bool)

    def quote(text: str) -> str:
        return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"

    columns = [(k, [v.get(k) if isinstance(v, dict) else None for _t, v in rows]) for k in fields]
    if scalar:
        columns.append(("val", [None if isinstance(v, dict) else v for _t, v in rows]))
    lines = [f"@RELATION {quote(bucket)}", ""]
    lines.append(
        "@ATTRIBUTE ts DATE \"yyyy-MM-dd'T'HH:mm:ss.SSS'Z'\""
        if ts_format == "iso"
        else "@ATTRIBUTE ts NUMERIC"
    )
    numeric = []
    for name, values in columns:
        is_num = all(number(v) for v in values if v is not None)
        numeric.append(is_num)
        lines.append(f"@ATTRIBUTE {quote(name)} {'NUMERIC' if is_num else 'STRING'}")
    lines += ["", "@DATA"]
    for i, (ts, _val) in enumerate(rows):
        stamp = format_ts(ts, ts_format)
        cells = [quote(stamp) if isinstance(stamp, str) else str(stamp)]
        for (_name, values), is_num in zip(columns, numeric, strict=True):
            v = values[i]
            cells.append("?" if v is None else str(v) if is_num else quote(_cell(v)))
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


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
    emu, svc, user = await account_user(request)
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
    info = await svc.bucket_info(user, bucket)
    if info is None:
        raise not_found("bucket", bucket)
    now = emu.clock.now_ms()
    base = str(request.base_url).rstrip("/")

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any], Delivery | None]:
        if BUCKET_DOCS.fetch(conn, user, bucket) is None:
            raise not_found("bucket", bucket)
        if callback == "endpoint" and not exists(conn, "th_endpoints", "endpoint", user, str(endpoint)):
            raise ApiProblem(400, f"field 'endpoint': endpoint '{endpoint}' does not exist")
        prune(conn, info, now)
        where, args = records_in_range(user, bucket, min_ts, max_ts)
        sql = f"SELECT ts, val FROM th_bucket_data {where} ORDER BY ts"
        rows = [(r[0], record_value(json.loads(r[1]), r[0])) for r in conn.execute(sql, args)]
        content = render(rows, data_type, ts_format, bucket)
        # A path id like every other (contract section 1): "<data_type>-<created ms>[-n]".
        file = f"{data_type}-{now}"
        n = 1
        while conn.execute(
            "SELECT 1 FROM th_bucket_exports WHERE user = ? AND bucket = ? AND file = ?", (user, bucket, file)
        ).fetchone():
            n += 1
            file = f"{data_type}-{now}-{n}"
        export = {
            "bucket": bucket,
            "file": file,
            "data_type": data_type,
            "timestamp_format": ts_format,
            "min_ts": min_ts or 0,
            "max_ts": max_ts or 0,
            "records": len(rows),
            "size": len(content),
            "status": "completed",
            "created": now,
            "url": f"{base}/v1/users/{user}/buckets/{bucket}/exports/{file}",
        }
        if callback:
            export["callback"] = callback
        if endpoint:
            export["endpoint"] = endpoint
        conn.execute(
            "INSERT INTO th_bucket_exports(user, bucket, file, info, content, created) VALUES (?,?,?,?,?,?)",
            (user, bucket, file, json.dumps(export), content, now),
        )
        delivery = None
        data: dict[str, Any] = {"user": user, "bucket": bucket, "file": file, "records": len(rows)}
        if callback == "endpoint":
            message = {
                "endpoint": endpoint,
                "data": {k: export[k] for k in ("bucket", "file", "url", "data_type", "records")},
                "source": "bucket_export",
            }
            at = now / 1000
            did = enqueue(conn, kind="endpoint", message=message, now=at, user=user, endpoint=str(endpoint))
            delivery = Delivery(did, "endpoint", PENDING, message, 0, at, at, user, None, str(endpoint))
            data["delivery"] = str(did)
        elif callback == "email":
            data["note"] = EMAIL_NOTE
        event = emu.events.stage(conn, "bucket.export_completed", data)
        return export, event, delivery

    export, event, delivery = await emu.store.write(write)
    if delivery is not None:
        emu.worker.hand_off([delivery])
    emu.events.publish(event)
    return ok(export)


@routes.get(EXPORTS, summary="List a bucket's exports")
async def list_exports(request: Request) -> Response:
    emu, _svc, user = await account_user(request)
    bucket = path_id(request, "bucket")

    def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        BUCKET_DOCS.get(conn, user, bucket)
        rows = conn.execute(
            "SELECT info FROM th_bucket_exports WHERE user = ? AND bucket = ? ORDER BY created, file",
            (user, bucket),
        ).fetchall()
        return [json.loads(r[0]) for r in rows]

    return ok(await emu.store.read(read))


@routes.get(EXPORT, summary="Download an export file")
async def read_export(request: Request) -> Response:
    emu, _svc, user = await account_user(request)
    bucket = path_id(request, "bucket")
    file = path_id(request, "file")
    row = await emu.store.read(
        lambda c: c.execute(
            "SELECT info, content FROM th_bucket_exports WHERE user = ? AND bucket = ? AND file = ?",
            (user, bucket, file),
        ).fetchone()
    )
    if row is None:
        raise not_found("export", file)
    ext, media = FORMATS.get(json.loads(row["info"]).get("data_type"), ("bin", "application/octet-stream"))
    headers = {"Content-Disposition": f'attachment; filename="{bucket}-{file}.{ext}"'}
    return Response(bytes(row["content"]), 200, media_type=media, headers=headers)


@routes.delete(EXPORT, summary="Delete an export file")
async def delete_export(request: Request) -> Response:
    emu, _svc, user = await account_user(request)
    bucket = path_id(request, "bucket")
    file = path_id(request, "file")

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        row = conn.execute(
            "SELECT info FROM th_bucket_exports WHERE user = ? AND bucket = ? AND file = ?",
            (user, bucket, file),
        ).fetchone()
        if row is None:
            raise not_found("export", file)
        conn.execute(
            "DELETE FROM th_bucket_exports WHERE user = ? AND bucket = ? AND file = ?", (user, bucket, file)
        )
        event = emu.events.stage(
            conn, "bucket.export_deleted", {"user": user, "bucket": bucket, "file": file}
        )
        return json.loads(row[0]), event

    data, event = await emu.store.write(write)
    emu.events.publish(event)
    return ok(data)
