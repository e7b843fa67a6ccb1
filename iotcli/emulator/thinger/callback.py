"""The HTTP device callback routes: its settings, and ingest (``POST .../callback/data``, CONTRACT section 2).

Ingest is the hot path: this module reads the call (path ids, body, ``?ts=``, ``?ip=``) and answers;
``backend/intake.py`` decides what the call stores and answers.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator import jsonpolicy
from iotcli.emulator.auth import Principal
from iotcli.emulator.http import check_id, ok, path_id, read_json
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.backend.intake import CallbackIntake
from iotcli.emulator.thinger.backend.records import query_ts as query_ts_of
from iotcli.emulator.thinger.backend.state import DeviceInfo
from iotcli.emulator.thinger.parse import account_user, epoch_ms
from iotcli.emulator.thinger.validation import request_schema, validate

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


# -- settings ------------------------------------------------------------------------------------


@routes.get(SETTINGS, summary="Read a device's callback settings")
async def read_settings(request: Request) -> Response:
    """``{"actions": {write_bucket, call_endpoint, set_property, send_property}, "properties": {"timeout"}}``."""
    th, user = await account_user(request)
    return ok(await th.callbacks.read(user, path_id(request, "device")))


@routes.put(SETTINGS, summary="Set a device's callback settings", body=request_schema("put", SETTINGS))
async def put_settings(request: Request) -> Response:
    """Each top-level key given (``actions``, ``properties``) replaces the stored one; a key left out
    stays as it was [chosen]. A named bucket or endpoint must exist; unknown keys are a 400."""
    th, user = await account_user(request)
    device = path_id(request, "device")
    body = await read_json(request)
    validate("put", SETTINGS, body)
    return ok(await th.callbacks.put(user, device, body))


# -- ingest --------------------------------------------------------------------------------------


async def _authorize(request: Request) -> tuple[CallbackIntake, DeviceInfo, Principal]:
    """The path ids, then the backend's checks (token, device, enabled, HTTP)."""
    intake: CallbackIntake = request.scope["app"].state.emu.services["thinger"].intake
    params = request.path_params
    user = check_id(params["user"], "user")
    device = check_id(params["device"], "device")
    info, principal = await intake.authorize(request, user, device)
    return intake, info, principal


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
        "ts": epoch_ms("record time (epoch ms) when the payload has no ts; 0 or empty = now"),
        "ip": "the device's IP address",
    },
    hot=True,
)
async def ingest(request: Request) -> Response:
    """Store in the bucket, set the property, call the endpoint (through the outbox), and answer the
    ``send_property`` value (or an empty body). A body that is not a JSON object: 200, nothing stored,
    and the ``X-Iotcli-Not-Stored`` header says why (so does it when the bucket cannot take the record)."""
    intake, info, principal = await _authorize(request)
    raw = await request.body()
    query = request.query_params if request.scope.get("query_string") else None
    query_ms = query_ts_of(query.get("ts")) if query else None
    payload, text, reason = _parse(raw)
    if reason is not None:
        # 200 like the real server [source]; nothing stored; the header says why.
        answer = await intake.not_ingested(info, len(raw), reason)
        return _answer(answer, reason + ", so nothing was stored")
    client = request.scope.get("client")
    ip = (query.get("ip") if query else None) or (client[0] if client else None)
    answer, not_stored = await intake.ingest(info, principal, len(raw), payload, text, query_ms, ip)
    return _answer(answer, not_stored)


@routes.get(DATA, summary="The answer a device would get (its send_property value), without ingesting")
async def read_answer(request: Request) -> Response:
    """The value of the ``send_property`` property as JSON, or an empty body when none is set."""
    intake, info, _principal = await _authorize(request)
    answer = await intake.answer(info)
    if not answer:
        return Response(b"", 200)
    return Response(answer, 200, media_type=JSON_TYPE)
