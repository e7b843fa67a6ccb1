"""The emulator's LoRaWAN side under /_emulator/lorawan: uplink ingress and the downlink journal."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.admin import emu_of
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import ok, query_int, read_json_object
from iotcli.emulator.iotflow.api import iotflow_of
from iotcli.emulator.iotflow.downlinks import STATUSES
from iotcli.emulator.iotflow.fields import (
    COUNTER_SCHEMA,
    DEVEUI_SCHEMA,
    END,
    FPORT_SCHEMA,
    PAYLOAD_HEX_SCHEMA,
    normalize_deveui,
)
from iotcli.emulator.routing import RouteTable
from iotcli.models.lorawan import LORAWAN_UPLINKS_PATH

routes = RouteTable("emulator", tag="lorawan")

UPLINK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["DevEUI", "FPort"],
    "additionalProperties": False,
    "anyOf": [{"required": ["payload_hex"]}, {"required": ["payload"]}],
    "properties": {
        "DevEUI": DEVEUI_SCHEMA,
        "FPort": FPORT_SCHEMA,
        "payload_hex": PAYLOAD_HEX_SCHEMA,
        "payload": {"type": "object", "description": "decoded payload"},
        "connections": {
            "type": "array",
            "items": {"type": "string"},
            "minItems": 1,
            "description": "ids of existing connections (default: every active one)",
        },
        "DevEUI_uplink": {
            "type": "object",
            "description": "fields overriding the generated uplink (DevEUI, if given, the uplink's own)",
            "properties": {"DevEUI": DEVEUI_SCHEMA, "FCntUp": COUNTER_SCHEMA},
        },
    },
}


@routes.post(
    LORAWAN_UPLINKS_PATH,
    summary="A device sends an uplink: forwarded to the named (or all active) connections",
    body=UPLINK_SCHEMA,
    status=202,
    hot=True,
)
async def post_uplink(request: Request) -> Response:
    principal = await emu_of(request).auth.account(request)
    body = await read_json_object(request)
    answer = await iotflow_of(request).uplinks.ingest(principal.user, body)
    return ok(answer, status=202)


@routes.get(
    "/_emulator/lorawan/downlinks",
    summary="Downlinks with their status (queued, sent, rejected, expired)",
    query={
        "DevEUI": {
            "type": "string",
            "pattern": rf"^(?:[-:]*(?:[0-9a-fA-F][-:]*){{16}})?{END}",
            "description": "only this device (16 hex digits, dashes allowed)",
        },
        "status": {
            "type": "string",
            "enum": ["", "queued", "sent", "rejected", "expired"],
            "description": "queued|sent|rejected|expired",
        },
        "limit": {"type": "integer", "minimum": 1, "maximum": 10_000, "description": "default 100"},
    },
)
async def list_downlinks(request: Request) -> Response:
    await emu_of(request).auth.account(request)
    deveui = request.query_params.get("DevEUI") or request.query_params.get("deveui")
    if deveui:
        deveui = normalize_deveui(deveui, "DevEUI")
    status = request.query_params.get("status") or None
    if status and status not in STATUSES:
        raise ApiProblem(400, f"query parameter 'status' must be one of {', '.join(STATUSES)}")
    limit = query_int(request, "limit", 100, minimum=1, maximum=10_000) or 100
    return ok(await iotflow_of(request).downlinks.list(deveui, status, limit))
