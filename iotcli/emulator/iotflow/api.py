"""IoT Flow-style routes under /iot-flow: connectors, connections, downlink messages.

Routes only parse the request and serialise the answer; the services own the rules.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.admin import emu_of
from iotcli.emulator.http import ok, read_json
from iotcli.emulator.iotflow.connection_model import MAX_REPORTED_KEYS, Connection, reported_keys
from iotcli.emulator.iotflow.connection_secrets import mask_secret_headers
from iotcli.emulator.iotflow.connector_schema import (
    CONNECTION_SCHEMA,
    CONNECTOR,
    CheckedConnection,
    connector,
)
from iotcli.emulator.iotflow.fields import DOWNLINK_SCHEMA
from iotcli.emulator.routing import RouteTable

if TYPE_CHECKING:
    from iotcli.emulator.iotflow.service import IotFlow

routes = RouteTable("iotflow", tag="connections")

ID_PARAM = {
    "type": "string",
    "description": 'connection id: a number ("8"), or an earlier version\'s 32 hex digits / dashed UUID',
}
UUID_PARAM = {"type": "string", "description": "the connection's downlink UUID (from its downlinkUrl)"}


def iotflow_of(request: Request) -> IotFlow:
    service: IotFlow = emu_of(request).services["iotflow"]
    return service


#: The legacy DX base path of the same connections API [source: real ThingPark clients call
#: ``<server>/thingpark/dx/core/latest/api/connections``; the docs name the DX API at
#: ``https://dx-api.thingpark.com/core/latest/api`` (Associating_ThingPark_Wireless_Devices_With_A_
#: ThingPark_X_IoT_Flow/README.md)].
DX_BASE = "/thingpark/dx/core/latest/api"
DX = {"tag": "connections (legacy DX path)"}


@routes.get("/iot-flow/v1/connectors", summary="Connectors with the JSON Schema of their configuration")
async def list_connectors(request: Request) -> Response:
    await emu_of(request).auth.account(request)
    return ok([CONNECTOR])


@routes.get("/iot-flow/v1/connectors/{id}", summary="One connector", params={"id": {"type": "string"}})
async def show_connector(request: Request) -> Response:
    await emu_of(request).auth.account(request)
    return ok(connector(str(request.path_params["id"])))


def _answer(request: Request, conn: Connection, checked: CheckedConnection, status: int = 200) -> Response:
    """The connection as stored (secrets masked), with a ``Warning`` header per key no document knows.

    A tiak the server generated is shown once, in this answer: the application server needs it to
    check the LRC Token, and every later read masks it [chosen].
    """
    data = conn.to_api(emu_of(request).settings.base_url)
    if checked.generated_tiak:
        data["configuration"]["tiak"] = conn.configuration["tiak"]
    headers = {}
    if checked.unknown:
        texts = [f"unknown key {k!r}: stored and echoed as given" for k in reported_keys(checked.unknown)]
        if len(checked.unknown) > MAX_REPORTED_KEYS:
            texts.append(
                f"{len(checked.unknown) - MAX_REPORTED_KEYS} more unknown keys: stored and echoed as given"
            )
        headers["Warning"] = ", ".join(f"299 iotcli {json.dumps(text)}" for text in texts)
    if status == 201:
        headers["Location"] = f"/connections/{conn.id}"
    return ok(data, status=status, headers=headers)


@routes.post(
    "/iot-flow/v1/connections",
    summary="Create a connection",
    body=CONNECTION_SCHEMA,
    status=201,
    responses={400: "invalid body (the message names the field)"},
)
@routes.post(
    f"{DX_BASE}/connections",
    summary="Create a connection (legacy DX path)",
    body=CONNECTION_SCHEMA,
    status=201,
    **DX,
)
async def create_connection(request: Request) -> Response:
    emu = emu_of(request)
    principal = await emu.auth.account(request)
    body = await read_json(request)
    conn, checked = await iotflow_of(request).connections.create(principal.user, body)
    return _answer(request, conn, checked, status=201)


@routes.get("/iot-flow/v1/connections", summary="List connections (secrets masked)")
@routes.get(f"{DX_BASE}/connections", summary="List connections (legacy DX path)", **DX)
async def list_connections(request: Request) -> Response:
    principal = await emu_of(request).auth.account(request)
    base = emu_of(request).settings.base_url
    return ok(
        [mask_secret_headers(c.to_api(base)) for c in iotflow_of(request).connections.list(principal.user)]
    )


@routes.get(
    "/iot-flow/v1/connections/{id}", summary="Read a connection (secrets masked)", params={"id": ID_PARAM}
)
@routes.get(
    f"{DX_BASE}/connections/{{id}}",
    summary="Read a connection (legacy DX path)",
    params={"id": ID_PARAM},
    **DX,
)
async def show_connection(request: Request) -> Response:
    principal = await emu_of(request).auth.account(request)
    conn = iotflow_of(request).connections.get(principal.user, str(request.path_params["id"]))
    return ok(mask_secret_headers(conn.to_api(emu_of(request).settings.base_url)))


@routes.put(
    "/iot-flow/v1/connections/{id}",
    summary="Replace a connection (the whole body; '*****' keeps a stored secret)",
    body=CONNECTION_SCHEMA,
    params={"id": ID_PARAM},
)
@routes.put(
    f"{DX_BASE}/connections/{{id}}",
    summary="Replace a connection (legacy DX path)",
    body=CONNECTION_SCHEMA,
    params={"id": ID_PARAM},
    **DX,
)
async def replace_connection(request: Request) -> Response:
    principal = await emu_of(request).auth.account(request)
    body = await read_json(request)
    conn, checked = await iotflow_of(request).connections.replace(
        principal.user, str(request.path_params["id"]), body
    )
    return _answer(request, conn, checked)


@routes.delete(
    "/iot-flow/v1/connections/{id}", summary="Delete a connection", status=204, params={"id": ID_PARAM}
)
@routes.delete(
    f"{DX_BASE}/connections/{{id}}",
    summary="Delete a connection (legacy DX path)",
    status=204,
    params={"id": ID_PARAM},
    **DX,
)
async def delete_connection(request: Request) -> Response:
    principal = await emu_of(request).auth.account(request)
    await iotflow_of(request).connections.delete(principal.user, str(request.path_params["id"]))
    return Response(status_code=204)


@routes.post(
    "/iot-flow/downlinkMessages/{uuid}",
    summary="Queue a downlink for a device (the downlinkUrl of every uplink); no token: the uuid is the key",
    auth=False,
    body=DOWNLINK_SCHEMA,
    status=202,
    params={"uuid": UUID_PARAM},
    responses={401: "AS_ID/AS_KEY mismatch", 403: "downlinkEnabled is false", 404: "unknown uuid"},
)
async def post_downlink(request: Request) -> Response:
    body = await read_json(request)
    answer = await iotflow_of(request).downlinks.post(str(request.path_params["uuid"]), body)
    return ok(answer, status=202)
