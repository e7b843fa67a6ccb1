"""Device property routes: list, create (one or many), read, PUT, PATCH (RFC 7386 merge), delete."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import ok, path_id, read_json
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.backend.properties import PROPERTY_DOCS
from iotcli.emulator.thinger.parse import account_user
from iotcli.emulator.thinger.validation import request_schema, validate

routes = RouteTable("thinger", tag="properties")

PROPERTIES = "/v3/users/{user}/devices/{device}/properties"
PROPERTY = "/v3/users/{user}/devices/{device}/properties/{property}"


@routes.get(PROPERTIES, summary="List the properties of a device")
async def list_properties(request: Request) -> Response:
    th, user = await account_user(request)
    return ok(await th.properties.all(user, path_id(request, "device")))


@routes.post(
    PROPERTIES, summary="Create one property or an array of them", body=request_schema("post", PROPERTIES)
)
async def create_properties(request: Request) -> Response:
    """Body ``{"property","value",...}`` or an array of them; existing ids are overwritten.
    Answers the property (or the array of properties) as stored."""
    th, user = await account_user(request)
    device = path_id(request, "device")
    body = await read_json(request)
    validate("post", PROPERTIES, body)
    items: list[dict[str, Any]] = body if isinstance(body, list) else [body]
    out = await th.properties.set_many(user, device, items)
    return ok(out if isinstance(body, list) else out[0])


@routes.get(PROPERTY, summary="Read a property")
async def read_property(request: Request) -> Response:
    th, user = await account_user(request)
    device = path_id(request, "device")
    return ok(await th.properties.read(user, device, path_id(request, "property")))


@routes.put(PROPERTY, summary="Create or overwrite a property", body=request_schema("put", PROPERTY))
async def put_property_route(request: Request) -> Response:
    """Body ``{"value", ...}`` replaces the whole property."""
    th, user = await account_user(request)
    device = path_id(request, "device")
    prop = path_id(request, "property")
    body = await read_json(request)
    validate("put", PROPERTY, body)
    return ok(await th.properties.put(user, device, prop, PROPERTY_DOCS.changes(body, prop)))


@routes.patch(
    PROPERTY,
    summary="Merge a JSON merge patch (RFC 7386) into a property",
    body={"type": "object", "description": "a JSON merge patch of the property object"},
)
async def patch_property(request: Request) -> Response:
    """The body is a merge patch of the property object: ``{"value": {"a": 1}}`` sets ``value.a``;
    ``null`` removes a member [chosen: the patch applies to the object, like PUT's body]. No body is
    the empty patch ``{}``: the real OpenAPI declares none for this operation [source]."""
    th, user = await account_user(request)
    device = path_id(request, "device")
    prop = path_id(request, "property")
    body = await read_json(request) if (await request.body()).strip() else {}
    if not isinstance(body, dict):
        raise ApiProblem(400, "request body must be a JSON object (a merge patch of the property)")
    patch = PROPERTY_DOCS.changes(body, prop)

    def check(doc: dict[str, Any]) -> None:
        validate("put", PROPERTY, doc)

    return ok(await th.properties.patch(user, device, prop, patch, check))


@routes.delete(PROPERTY, summary="Delete a property")
async def delete_property(request: Request) -> Response:
    th, user = await account_user(request)
    device = path_id(request, "device")
    return ok(await th.properties.delete(user, device, path_id(request, "property")))
