"""The emulator's own bulk route for fleets (``iotcli fleet provision``): many HTTP devices, their
callback settings and a device token each in one request.

Not a route of the real platform (it lives under ``/_emulator``): a real tenant gets the same devices one
request at a time. Each item goes through the same backend as the one-by-one routes (the same checks,
rows and events); the items of one request are committed together.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import check_id, ok, read_json_object
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.callback import SETTINGS
from iotcli.emulator.thinger.parse import backend_of
from iotcli.emulator.thinger.validation import request_schema, validate

routes = RouteTable("thinger", tag="devices")

BULK = "/_emulator/devices/bulk"
#: Devices in one request at most.
MAX_ITEMS = 1000
MAX_NAME = 255

BULK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["devices"],
    "additionalProperties": False,
    "properties": {
        "devices": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_ITEMS,
            "items": {
                "type": "object",
                "required": ["device"],
                "additionalProperties": False,
                "properties": {
                    "device": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,32}$"},
                    "callback": {
                        **request_schema("put", SETTINGS),
                        "description": "as PUT .../callback, set after creating",
                    },
                    "token_name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
                },
            },
        }
    },
}


def _items(body: dict[str, Any]) -> list[tuple[str, dict[str, Any] | None, str | None]]:
    extra = set(body) - {"devices"}
    if extra:
        raise ApiProblem(400, f"unknown field '{sorted(extra)[0]}': the body is {{\"devices\": [...]}}")
    devices = body.get("devices")
    if not isinstance(devices, list) or not 1 <= len(devices) <= MAX_ITEMS:
        raise ApiProblem(400, f"'devices' must be a list of 1 to {MAX_ITEMS} items")
    items: list[tuple[str, dict[str, Any] | None, str | None]] = []
    seen: set[str] = set()
    for i, item in enumerate(devices):
        if not isinstance(item, dict) or not isinstance(item.get("device"), str):
            raise ApiProblem(400, f"devices[{i}] must be an object with a 'device' id")
        unknown = set(item) - {"device", "callback", "token_name"}
        if unknown:
            raise ApiProblem(400, f"devices[{i}]: unknown field '{sorted(unknown)[0]}'")
        device = check_id(item["device"], "device")
        if device in seen:
            raise ApiProblem(400, f"devices[{i}]: device '{device}' is listed twice")
        seen.add(device)
        callback = item.get("callback")
        if callback is not None and not isinstance(callback, dict):
            raise ApiProblem(400, f"devices[{i}].callback must be an object")
        if callback is not None:
            try:  # the rules of PUT .../callback, checked before anything is created
                validate("put", SETTINGS, callback)
            except ApiProblem as exc:
                raise ApiProblem(400, f"devices[{i}].callback: {exc.message}") from None
        name = item.get("token_name")
        if name is not None and (not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME):
            raise ApiProblem(400, f"devices[{i}].token_name must be a string of 1 to {MAX_NAME} characters")
        items.append((device, callback, name))
    return items


@routes.post(
    BULK,
    summary="Create many HTTP devices, set their callback and make a token each (emulator only)",
    body=BULK_SCHEMA,
)
async def bulk_devices(request: Request) -> Response:
    """The emulator account's devices (account token). Each item: the HTTP device is created unless it exists, then ``callback`` is set (when given),
    then a device token named ``token_name`` is made (when given). Answers ``{"devices": [{"device",
    "created", "token"?}]}`` in the order asked; the token secrets are in this answer only."""
    th = backend_of(request)
    user = th.emu.settings.user  # the emulator's one account
    await th.emu.auth.account(request, user)
    items = _items(await read_json_object(request))

    async def one(device: str, callback: dict[str, Any] | None, name: str | None) -> dict[str, Any]:
        created = True
        try:
            await th.devices.create(user, device, {"type": "HTTP"})
        except ApiProblem as exc:
            if "already exists" not in exc.message:
                raise
            created = False
        out: dict[str, Any] = {"device": device, "created": created}
        if callback is not None:
            await th.callbacks.put(user, device, callback)
        if name is not None:
            out["token"] = (await th.device_tokens.create(user, device, name, None))["token"]
        return out

    tasks = [asyncio.ensure_future(one(*item)) for item in items]
    try:
        results = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return ok({"devices": list(results)})
