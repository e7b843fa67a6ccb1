"""IoT Flow-style routes under /iot-flow: connectors, connections, downlink messages.

Routes only parse the request and serialise the answer; the services own the rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.admin import emu_of
from iotcli.emulator.http import ok, read_json
from iotcli.emulator.iotflow.connector_schema import CONNECTION_SCHEMA, CONNECTOR
from iotcli.emulator.routing import RouteTable

if TYPE_CHECKING:
    from iotcli.emulator.iotflow.service import IotFlow

routes = RouteTable("iotflow", tag="connections")

UUID_PARAM = {"type": "string", "description": "connection id: 32 hex digits or the dashed UUID form"}


def iotflow_of(request: Request) -> IotFlow:
    service: IotFlow = emu_of(request).services["iotflow"]
    return service


@routes.get("/iot-flow/v1/connectors", summary="Connectors with the JSON Schema of their configuration")
async def list_connectors(request: Request) -> Response:
    await emu_of(request).auth.account(request)
    return ok([CONNECTOR])


@routes.get("/iot-flow/v1/connectors/{id}", summary="One connector", params={"id": {"type": "string"}})
async def show_connector(request: Request) -> Response:
    from iotcli.emulator.errors import ApiProblem

    await emu_of(request).auth.account(request)
    if request.path_params["id"] != CONNECTOR["id"]:
        raise ApiProblem(404, f"connector '{str(request.path_params['id'])[:64]}' not found")
    return ok(CONNECTOR)


@routes.post(
    "/iot-flow/v1/connections",
    summary="Create a connection",
    body=CONNECTION_SCHEMA,
    status=201,
    responses={400: "invalid body (the message names the field)"},
)
async def create_connection(request: Request) -> Response:
    emu = emu_of(request)
    principal = await emu.auth.account(request)
    body = await read_json(request)
    conn = await iotflow_of(request).connections.create(principal.user, body)
    return ok(conn.to_api(), status=201, headers={"Location": f"/connections/{conn.id}"})


@routes.get("/iot-flow/v1/connections", summary="List connections (secrets masked)")
async def list_connections(request: Request) -> Response:
    principal = await emu_of(request).auth.account(request)
    return ok([c.to_api() for c in iotflow_of(request).connections.list(principal.user)])


@routes.get(
    "/iot-flow/v1/connections/{id}", summary="Read a connection (secrets masked)", params={"id": UUID_PARAM}
)
async def show_connection(request: Request) -> Response:
    principal = await emu_of(request).auth.account(request)
    conn = iotflow_of(request).connections.get(principal.user, str(request.path_params["id"]))
    return ok(conn.to_api())


@routes.put(
    "/iot-flow/v1/connections/{id}",
    summary="Replace a connection (the whole body; '*****' keeps a stored secret)",
    body=CONNECTION_SCHEMA,
    params={"id": UUID_PARAM},
)
async def replace_connection(request: Request) -> Response:
    principal = await emu_of(request).auth.account(request)
    body = await read_json(request)
    conn = await iotflow_of(request).connections.replace(principal.user, str(request.path_params["id"]), body)
    return ok(conn.to_api())


@routes.delete(
    "/iot-flow/v1/connections/{id}", summary="Delete a connection", status=204, params={"id": UUID_PARAM}
)
async def delete_connection(request: Request) -> Response:
    principal = await emu_of(request).auth.account(request)
    await iotflow_of(request).connections.delete(principal.user, str(request.path_params["id"]))
    return Response(status_code=204)


@routes.post(
    "/iot-flow/downlinkMessages/{uuid}",
    summary="Queue a downlink for a device (the downlinkUrl of every uplink); no token: the uuid is the key",
    auth=False,
    status=202,
    params={"uuid": UUID_PARAM},
    responses={401: "AS_ID/AS_KEY mismatch", 403: "downlinkEnabled is false", 404: "unknown uuid"},
)
async def post_downlink(request: Request) -> Response:
    body = await read_json(request)
    answer = await iotflow_of(request).downlinks.post(str(request.path_params["uuid"]), body)
    return ok(answer, status=202)
