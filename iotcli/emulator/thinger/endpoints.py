"""Endpoint routes: create, list, read, update, delete, and call (CONTRACT section 2)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.http import ok, path_id, read_json, read_json_object
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.backend.endpoints import ENDPOINT_DOCS
from iotcli.emulator.thinger.parse import LIST_QUERY, account_user, list_filter
from iotcli.emulator.thinger.validation import request_schema, validate

routes = RouteTable("thinger", tag="endpoints")

ENDPOINTS = "/v1/users/{user}/endpoints"
ENDPOINT = "/v1/users/{user}/endpoints/{endpoint}"
CALL = "/v1/users/{user}/endpoints/{endpoint}/call"


@routes.post(ENDPOINTS, summary="Create an endpoint", body=request_schema("post", ENDPOINTS))
async def create_endpoint(request: Request) -> Response:
    """``endpoint``, ``type`` and ``config`` are required [source]. ``http_request`` endpoints are called;
    ``email`` endpoints are stored and their calls recorded in the delivery journal, not sent."""
    th, user = await account_user(request)
    body = await read_json(request)
    validate("post", ENDPOINTS, body)
    return ok(await th.endpoints.create(user, str(body["endpoint"]), body))


@routes.get(ENDPOINTS, summary="List endpoints", query=LIST_QUERY)
async def list_endpoints(request: Request) -> Response:
    """Every endpoint of the user, ordered by id; ``name``, ``count`` and ``index`` as in the device list."""
    th, user = await account_user(request)
    keep = list_filter(request, "endpoint")
    return ok(keep(await th.endpoints.all(user)))


@routes.get(ENDPOINT, summary="Read an endpoint")
async def read_endpoint(request: Request) -> Response:
    th, user = await account_user(request)
    return ok(await th.endpoints.read(user, path_id(request, "endpoint")))


@routes.put(ENDPOINT, summary="Update an endpoint (partial)", body=request_schema("put", ENDPOINT))
async def update_endpoint(request: Request) -> Response:
    """Change the given fields (``config`` is replaced whole). ``endpoint`` cannot change."""
    th, user = await account_user(request)
    endpoint = path_id(request, "endpoint")
    body = await read_json(request)
    if not isinstance(body, dict):
        validate("put", ENDPOINT, body)
    rest = ENDPOINT_DOCS.changes(body, endpoint)
    validate("put", ENDPOINT, rest)
    return ok(await th.endpoints.update(user, endpoint, rest))


@routes.delete(ENDPOINT, summary="Delete an endpoint")
async def delete_endpoint(request: Request) -> Response:
    th, user = await account_user(request)
    return ok(await th.endpoints.delete(user, path_id(request, "endpoint")))


@routes.post(
    CALL, summary="Call an endpoint with the JSON body as its data", body=request_schema("post", CALL)
)
async def call_endpoint(request: Request) -> Response:
    """Answers ``{"status", "body"}`` of the target [chosen]; the call and its attempt land in the
    delivery journal. An email endpoint is recorded there instead of sent (``status`` null)."""
    th, user = await account_user(request)
    endpoint = path_id(request, "endpoint")
    data = await read_json_object(request)
    return ok(await th.endpoints.call(user, endpoint, data))
