"""Device property routes: list, create (one or many), read, PUT, PATCH (RFC 7386 merge), delete."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import ok, path_id, read_json
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.documents import commit
from iotcli.emulator.thinger.service import account_user, exists, not_found
from iotcli.emulator.thinger.validation import request_schema, validate

routes = RouteTable("thinger", tag="properties")

PROPERTIES = "/v3/users/{user}/devices/{device}/properties"
PROPERTY = "/v3/users/{user}/devices/{device}/properties/{property}"


def property_object(row: sqlite3.Row) -> dict[str, Any]:
    doc = json.loads(row["doc"])
    return {"property": row["property"], **doc, "created": row["created"], "modified": row["modified"]}


def fetch_property(conn: sqlite3.Connection, user: str, device: str, prop: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        "SELECT property, doc, created, modified FROM th_properties WHERE user = ? AND device = ? AND property = ?",
        (user, device, prop),
    ).fetchone()
    return row


def put_property(
    conn: sqlite3.Connection, user: str, device: str, prop: str, doc: dict[str, Any], now_ms: int
) -> None:
    """Create or overwrite a property (keeps its creation time)."""
    conn.execute(
        "INSERT INTO th_properties(user, device, property, doc, created, modified) VALUES (?,?,?,?,?,?) "
        "ON CONFLICT(user, device, property) DO UPDATE SET doc = excluded.doc, modified = excluded.modified",
        (user, device, prop, json.dumps(doc), now_ms, now_ms),
    )


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _require_device(conn: sqlite3.Connection, user: str, device: str) -> None:
    if not exists(conn, "th_devices", "device", user, device):
        raise not_found("device", device)


@routes.get(PROPERTIES, summary="List the properties of a device")
async def list_properties(request: Request) -> Response:
    emu, _svc, user = await account_user(request)
    device = path_id(request, "device")

    def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        _require_device(conn, user, device)
        rows = conn.execute(
            "SELECT property, doc, created, modified FROM th_properties WHERE user = ? AND device = ? "
            "ORDER BY property",
            (user, device),
        ).fetchall()
        return [property_object(r) for r in rows]

    return ok(await emu.store.read(read))


@routes.post(
    PROPERTIES, summary="Create one property or an array of them", body=request_schema("post", PROPERTIES)
)
async def create_properties(request: Request) -> Response:
    """Body ``{"property","value",...}`` or an array of them; existing ids are overwritten.
    Answers the property (or the array of properties) as stored."""
    emu, _svc, user = await account_user(request)
    device = path_id(request, "device")
    body = await read_json(request)
    validate("post", PROPERTIES, body)
    items: list[dict[str, Any]] = body if isinstance(body, list) else [body]
    now = emu.clock.now_ms()

    def write(conn: sqlite3.Connection) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        _require_device(conn, user, device)
        out = []
        for item in items:
            prop = str(item["property"])
            put_property(conn, user, device, prop, {k: v for k, v in item.items() if k != "property"}, now)
            row = fetch_property(conn, user, device, prop)
            assert row is not None
            out.append(property_object(row))
        event = emu.events.stage(
            conn,
            "property.set",
            {"user": user, "device": device, "properties": [i["property"] for i in items]},
        )
        return out, event

    out, event = await emu.store.write(write)
    emu.events.publish(event)
    return ok(out if isinstance(body, list) else out[0])


@routes.get(PROPERTY, summary="Read a property")
async def read_property(request: Request) -> Response:
    emu, _svc, user = await account_user(request)
    device = path_id(request, "device")
    prop = path_id(request, "property")

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        _require_device(conn, user, device)
        row = fetch_property(conn, user, device, prop)
        if row is None:
            raise not_found("property", prop)
        return property_object(row)

    return ok(await emu.store.read(read))


def _check_same_id(body: dict[str, Any], prop: str) -> dict[str, Any]:
    rest = dict(body)
    if "property" in rest:
        if rest["property"] != prop:
            raise ApiProblem(400, f"field 'property' cannot be changed (it is '{prop}')")
        del rest["property"]
    return rest


@routes.put(PROPERTY, summary="Create or overwrite a property", body=request_schema("put", PROPERTY))
async def put_property_route(request: Request) -> Response:
    """Body ``{"value", ...}`` replaces the whole property."""
    emu, _svc, user = await account_user(request)
    device = path_id(request, "device")
    prop = path_id(request, "property")
    body = await read_json(request)
    validate("put", PROPERTY, body)
    doc = _check_same_id(body, prop)
    now = emu.clock.now_ms()

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        _require_device(conn, user, device)
        put_property(conn, user, device, prop, doc, now)
        row = fetch_property(conn, user, device, prop)
        assert row is not None
        event = emu.events.stage(conn, "property.set", {"user": user, "device": device, "properties": [prop]})
        return property_object(row), event

    return await commit(emu, write)


@routes.patch(PROPERTY, summary="Merge a JSON merge patch (RFC 7386) into a property")
async def patch_property(request: Request) -> Response:
    """The body is a merge patch of the property object: ``{"value": {"a": 1}}`` sets ``value.a``;
    ``null`` removes a member [chosen: the patch applies to the object, like PUT's body]."""
    emu, _svc, user = await account_user(request)
    device = path_id(request, "device")
    prop = path_id(request, "property")
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiProblem(400, "request body must be a JSON object (a merge patch of the property)")
    patch = _check_same_id(body, prop)
    now = emu.clock.now_ms()

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        _require_device(conn, user, device)
        row = fetch_property(conn, user, device, prop)
        if row is None:
            raise not_found("property", prop)
        doc = merge_patch(json.loads(row["doc"]), patch)
        doc.setdefault("value", None)
        validate("put", PROPERTY, doc)
        put_property(conn, user, device, prop, doc, now)
        new = fetch_property(conn, user, device, prop)
        assert new is not None
        event = emu.events.stage(conn, "property.set", {"user": user, "device": device, "properties": [prop]})
        return property_object(new), event

    return await commit(emu, write)


@routes.delete(PROPERTY, summary="Delete a property")
async def delete_property(request: Request) -> Response:
    emu, _svc, user = await account_user(request)
    device = path_id(request, "device")
    prop = path_id(request, "property")

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        _require_device(conn, user, device)
        row = fetch_property(conn, user, device, prop)
        if row is None:
            raise not_found("property", prop)
        conn.execute(
            "DELETE FROM th_properties WHERE user = ? AND device = ? AND property = ?", (user, device, prop)
        )
        event = emu.events.stage(conn, "property.deleted", {"user": user, "device": device, "property": prop})
        return property_object(row), event

    return await commit(emu, write)
