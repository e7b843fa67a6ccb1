"""The HTTP device callback: its settings, and ingest (``POST .../callback/data``, CONTRACT section 2).

Ingest is the hot path. Auth, device and bucket lookups come from memory caches; everything the call
changes (connection state, bucket record, property, outbox row for the endpoint, token last use,
events) is written in one store job together with the calls that arrived meanwhile (``ingest.py``);
the answer goes out after that commit.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator import jsonpolicy
from iotcli.emulator.auth import Principal
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import check_id, ok, path_id, read_json
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.buckets import query_ts as query_ts_of
from iotcli.emulator.thinger.buckets import record_ts as record_ts_of
from iotcli.emulator.thinger.ingest import Call, property_value
from iotcli.emulator.thinger.service import (
    DEFAULT_TIMEOUT_MINUTES,
    BucketInfo,
    DeviceInfo,
    ThingerService,
    account_user,
    exists,
    load_bucket_info,
    not_found,
    timeout_ms,
)
from iotcli.emulator.thinger.validation import request_schema, validate

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

routes = RouteTable("thinger", tag="callback")

SETTINGS = "/v3/users/{user}/devices/{device}/callback"
DATA = "/v3/users/{user}/devices/{device}/callback/data"
ACTIONS = ("write_bucket", "call_endpoint", "set_property", "send_property")

JSON_TYPE = "application/json"
#: The answer to most callback calls (no send_property): built once, nothing changes it when it is sent.
EMPTY_200 = Response(b"", 200)
#: Emulator-only answer header: the call answered 200 but its data was not stored, and why [chosen].
#: Real servers never send it; ``send-uplink`` prints it.
NOT_STORED = "X-Iotcli-Not-Stored"


def _answer(body: bytes, not_stored: str | None) -> Response:
    if not_stored is None:
        return Response(body, 200, media_type=JSON_TYPE) if body else EMPTY_200
    headers = {NOT_STORED: not_stored.encode("ascii", "replace").decode("ascii")}
    if body:
        return Response(body, 200, media_type=JSON_TYPE, headers=headers)
    return Response(b"", 200, headers=headers)


def settings_object(callback: dict[str, Any] | None) -> dict[str, Any]:
    callback = callback or {}
    actions = {k: v for k, v in (callback.get("actions") or {}).items() if v}
    props = {"timeout": DEFAULT_TIMEOUT_MINUTES, **(callback.get("properties") or {})}
    return {"actions": actions, "properties": props}


# -- settings ------------------------------------------------------------------------------------


@routes.get(SETTINGS, summary="Read a device's callback settings")
async def read_settings(request: Request) -> Response:
    """``{"actions": {write_bucket, call_endpoint, set_property, send_property}, "properties": {"timeout"}}``."""
    emu, _svc, user = await account_user(request)
    device = path_id(request, "device")
    row = await emu.store.read(
        lambda c: c.execute(
            "SELECT callback FROM th_devices WHERE user = ? AND device = ?", (user, device)
        ).fetchone()
    )
    if row is None:
        raise not_found("device", device)
    return ok(settings_object(json.loads(row["callback"]) if row["callback"] else None))


@routes.put(SETTINGS, summary="Set a device's callback settings", body=request_schema("put", SETTINGS))
async def put_settings(request: Request) -> Response:
    """Each top-level key given (``actions``, ``properties``) replaces the stored one; a key left out
    stays as it was [chosen]. A named bucket or endpoint must exist; unknown keys are a 400."""
    emu, svc, user = await account_user(request)
    device = path_id(request, "device")
    body = await read_json(request)
    validate("put", SETTINGS, body)
    actions = body.get("actions")
    now = emu.clock.now_ms()

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any], sqlite3.Row]:
        row = conn.execute(
            "SELECT callback, connected, last_seen FROM th_devices WHERE user = ? AND device = ?",
            (user, device),
        ).fetchone()
        if row is None:
            raise not_found("device", device)
        if actions is not None:
            bucket = actions.get("write_bucket")
            if bucket:
                info = load_bucket_info(conn, user, bucket)
                if info is None:
                    raise ApiProblem(400, f"field 'actions.write_bucket': bucket '{bucket}' does not exist")
                if not info.writable:
                    raise ApiProblem(
                        400,
                        f"field 'actions.write_bucket': bucket '{bucket}' takes its data from '{info.source}', "
                        "not from callbacks (use an 'api' or 'write' bucket)",
                    )
            endpoint = actions.get("call_endpoint")
            if endpoint and not exists(conn, "th_endpoints", "endpoint", user, endpoint):
                raise ApiProblem(400, f"field 'actions.call_endpoint': endpoint '{endpoint}' does not exist")
        callback = json.loads(row["callback"]) if row["callback"] else {}
        for key in ("actions", "properties"):
            if key in body:
                callback[key] = body[key]
        conn.execute(
            "UPDATE th_devices SET callback = ?, modified = ? WHERE user = ? AND device = ?",
            (json.dumps(callback), now, user, device),
        )
        event = emu.events.stage(
            conn, "device.callback_set", {"user": user, "device": device, **settings_object(callback)}
        )
        return callback, event, row

    callback, event, row = await emu.store.write(write)
    svc.forget_device(user, device)
    if row["connected"] and row["last_seen"] is not None:
        limit = timeout_ms(callback)
        svc.monitor.touch(user, device, None if limit is None else (row["last_seen"] + limit) / 1000)
    emu.events.publish(event)
    return ok(settings_object(callback))


# -- ingest --------------------------------------------------------------------------------------


async def _reject(svc: ThingerService, source: str, user: str, device: str, status: int, reason: str) -> None:
    # The reason never carries the token: ApiProblem messages from auth do not include it.
    # Sampled: one event per source and reason per interval, the others counted in the next one.
    suppressed = svc.emu.events.rejections.admit((source, user, device, status, reason))
    if suppressed is None:
        return
    extra = {"source": source, "suppressed": suppressed} if suppressed else {"source": source}
    await svc.emu.events.record(
        "callback.rejected", user=user, device=device, status=status, reason=reason, **extra
    )


async def _authorize(request: Request) -> tuple[ThingerService, DeviceInfo, Principal]:
    """Step 1 of the contract: token, device, enabled, HTTP. Every refusal lands in the journal."""
    emu: Emulator = request.scope["app"].state.emu
    svc: ThingerService = emu.services["thinger"]
    params = request.path_params
    user = check_id(params["user"], "user")
    device = check_id(params["device"], "device")
    try:
        principal = await svc.callback_principal(request, user, device)
        info = svc.cached_device(user, device) or await svc.device_info(user, device)
        if info is None:
            raise not_found("device", device)
        if not info.enabled:
            raise ApiProblem(403, f"device '{device}' is disabled")
        if info.type != "HTTP":
            raise ApiProblem(
                400, f"device '{device}' is a {info.type} device: only HTTP devices take callback data"
            )
    except ApiProblem as problem:
        source = request.client.host if request.client else "?"
        await _reject(svc, source, user, device, problem.status, problem.message)
        raise
    return svc, info, principal


def _parse(raw: bytes) -> tuple[Any, str, str | None]:
    """(payload, its JSON text, why it is not ingested). The text is stored as sent: no re-encoding.

    NaN and Infinity are not JSON (Python's parser would take them), and bodies must be UTF-8.
    The reason is plain words: it goes to the journal and the ``X-Iotcli-Not-Stored`` header.
    """
    if not raw.strip():
        return None, "", "the body is empty (not valid JSON)"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "", "the body is not valid JSON (not UTF-8 text)"
    try:
        payload = jsonpolicy.decode(text)  # the edge policy: finite numbers, valid Unicode
    except jsonpolicy.JsonRejected as exc:
        return None, "", f"the body is not valid JSON ({exc.message})"
    if not isinstance(payload, dict):
        return None, "", f"the body is {_json_kind(payload)}, not a JSON object"
    return payload, text, None


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a JSON array"
    if isinstance(value, str):
        return "a JSON string"
    if isinstance(value, bool) or value is None:
        return f"JSON {json.dumps(value)}"
    return "a JSON number"


@routes.post(
    DATA,
    summary="Callback ingest: a device posts its JSON data",
    body=request_schema("post", DATA),
    query={
        "ts": "record time (epoch ms) when the payload has no ts; 0 or empty = now",
        "ip": "the device's IP address",
    },
    hot=True,
)
async def ingest(request: Request) -> Response:
    """Store in the bucket, set the property, call the endpoint (through the outbox), and answer the
    ``send_property`` value (or an empty body). A body that is not a JSON object: 200, nothing stored,
    and the ``X-Iotcli-Not-Stored`` header says why (so does it when the bucket cannot take the record)."""
    svc, info, principal = await _authorize(request)
    emu = svc.emu
    raw = await request.body()
    query = request.query_params if request.scope.get("query_string") else None
    query_ms = query_ts_of(query.get("ts")) if query else None
    payload, text, reason = _parse(raw)
    if reason is not None:
        return await _not_ingested(svc, info, len(raw), reason)

    now = emu.clock.now_ms()
    notes: list[str] = []
    bucket: BucketInfo | None = None
    record_ts: int | None = None
    bucket_name = info.actions.get("write_bucket")
    if bucket_name:
        bucket = svc.cached_bucket(info.user, bucket_name) or await svc.bucket_info(info.user, bucket_name)
        if bucket is None:
            notes.append(f"bucket '{bucket_name}' does not exist: the record was not stored")
        elif not bucket.writable or not bucket.enabled:
            notes.append(
                f"bucket '{bucket_name}' is disabled or does not take writes: the record was not stored"
            )
            bucket = None
        else:
            record_ts = record_ts_of(payload, query_ms)  # None: the writer assigns a free time
    client = request.scope.get("client")
    ip = (query.get("ip") if query else None) or (client[0] if client else None)
    call = Call(info, principal, now, ip, len(raw), payload, text, bucket, record_ts, notes)
    outcome = await svc.ingest_writer.submit(call)

    limit = info.timeout_ms
    svc.monitor.touch(info.user, info.device, None if limit is None else (now + limit) / 1000)
    if outcome.delivery is not None:
        emu.worker.hand_off([outcome.delivery])
    emu.events.publish(*outcome.events)
    return _answer(outcome.answer, notes[0] if notes else None)


async def _not_ingested(svc: ThingerService, info: DeviceInfo, size: int, reason: str) -> Response:
    """A body that is not a JSON object: 200 like the real server [source], nothing stored or changed
    (bucket, property, endpoint, connection state) [chosen]; the device still gets its send_property
    value; the journal and the ``X-Iotcli-Not-Stored`` header say why."""
    await svc.emu.events.record(
        "callback.ignored", user=info.user, device=info.device, bytes=size, reason=reason + ": nothing stored"
    )
    send = info.actions.get("send_property")
    answer = b""
    if send:
        answer = await svc.emu.store.read(lambda c: property_value(c, info.user, info.device, send))
    return _answer(answer, reason + ", so nothing was stored")


@routes.get(DATA, summary="The answer a device would get (its send_property value), without ingesting")
async def read_answer(request: Request) -> Response:
    """The value of the ``send_property`` property as JSON, or an empty body when none is set."""
    svc, info, _principal = await _authorize(request)
    send = info.actions.get("send_property")
    if not send:
        return Response(b"", 200)
    answer = await svc.emu.store.read(lambda c: property_value(c, info.user, info.device, send))
    if not answer:
        return Response(b"", 200)
    return Response(answer, 200, media_type=JSON_TYPE)
