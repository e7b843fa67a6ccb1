"""Device routes: create, list, read, update, delete, stats (CONTRACT section 2)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.http import ok, path_id, read_json
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.parse import account_user, list_filter, list_query
from iotcli.emulator.thinger.validation import request_schema, validate

routes = RouteTable("thinger", tag="devices")

DEVICES = "/v1/users/{user}/devices"
DEVICE = "/v1/users/{user}/devices/{device}"


@routes.post(DEVICES, summary="Create a device", body=request_schema("post", DEVICES))
async def create_device(request: Request) -> Response:
    """Create a device (HTTP by default). Generic and MQTT devices need ``credentials``."""
    th, user = await account_user(request)
    body = await read_json(request)
    validate("post", DEVICES, body)
    return ok(await th.devices.create(user, str(body["device"]), body))


@routes.get(
    DEVICES,
    summary="List devices",
    query={"type": "only devices of this type (HTTP, Virtual, Generic, MQTT)", **list_query("devices")},
)
async def list_devices(request: Request) -> Response:
    """Every device of the user, ordered by id, with its connection state."""
    th, user = await account_user(request)
    dtype = request.query_params.get("type") or None
    keep = list_filter(request, "device")
    return ok(keep(await th.devices.all(user, dtype)))


@routes.get(DEVICE, summary="Read a device")
async def read_device(request: Request) -> Response:
    th, user = await account_user(request)
    return ok(await th.devices.read(user, path_id(request, "device")))


@routes.put(DEVICE, summary="Update a device (partial)", body=request_schema("put", DEVICE))
async def update_device(request: Request) -> Response:
    """Change the given fields; ``""`` clears asset_type, asset_group and product.

    ``device`` and ``type`` cannot change: a body may repeat their current values (as the real
    server's "Full Update" example does), any other value is a 400.
    """
    th, user = await account_user(request)
    device = path_id(request, "device")
    body = await read_json(request)
    if not isinstance(body, dict):
        validate("put", DEVICE, body)

    def check(rest: dict[str, Any]) -> None:
        validate("put", DEVICE, rest)

    return ok(await th.devices.update(user, device, body, check))


@routes.delete(DEVICE, summary="Delete a device (its callback, tokens and properties; buckets stay)")
async def delete_device(request: Request) -> Response:
    th, user = await account_user(request)
    return ok(await th.devices.delete(user, path_id(request, "device")))


async def _stats(request: Request) -> Response:
    th, user = await account_user(request)
    return ok(await th.devices.stats(user, path_id(request, "device")))


@routes.get(DEVICE + "/stats", summary="Connection statistics of a device")
async def device_stats(request: Request) -> Response:
    """``{"connected","connected_ts","ip_address","rx_bytes","tx_bytes"}``."""
    return await _stats(request)


@routes.get("/v3/users/{user}/devices/{device}/stats", summary="Connection statistics of a device (v3)")
async def device_stats_v3(request: Request) -> Response:
    """The same answer as ``/v1/.../stats`` (the real server has both paths)."""
    return await _stats(request)
