"""Device routes: create, list, read, update, delete, stats (CONTRACT section 2)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.auth import hash_token
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import ok, path_id, query_int, read_json
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger.documents import commit
from iotcli.emulator.thinger.service import account_user, not_found, timeout_ms
from iotcli.emulator.thinger.validation import request_schema, validate

routes = RouteTable("thinger", tag="devices")

DEVICES = "/v1/users/{user}/devices"
DEVICE = "/v1/users/{user}/devices/{device}"

#: Fields of a device the API shows, in this order.
FIELDS = ("name", "description", "enabled", "asset_type", "asset_group", "product")
#: Fields a PUT may clear with "" [source: the update schema allows an empty string for them].
CLEARABLE = {"asset_type", "asset_group", "product"}

SELECT = (
    "SELECT device, type, doc, created, modified, callback, connected, connected_ts, disconnected_ts, "
    "last_seen, ip_address, rx_bytes, tx_bytes FROM th_devices"
)


def connection_state(row: sqlite3.Row, now_ms: int) -> tuple[bool, int | None]:
    """(connected, ts of the last change) as of ``now_ms``: a device past its timeout reads disconnected
    even before the background monitor has written it down."""
    if row["connected"]:
        limit = timeout_ms(json.loads(row["callback"]) if row["callback"] else None)
        if limit is None or row["last_seen"] is None or row["last_seen"] + limit > now_ms:
            return True, row["connected_ts"]
        return False, row["last_seen"] + limit
    return False, row["disconnected_ts"]


def device_object(row: sqlite3.Row, now_ms: int) -> dict[str, Any]:
    doc = json.loads(row["doc"])
    active, ts = connection_state(row, now_ms)
    data: dict[str, Any] = {"device": row["device"], "type": row["type"]}
    for key in FIELDS:
        data[key] = doc.get(key)
    data["created"] = row["created"]
    data["modified"] = row["modified"]
    data["connection"] = {"active": active, "ts": ts}
    return data


def stats_object(row: sqlite3.Row, now_ms: int) -> dict[str, Any]:
    active, _ts = connection_state(row, now_ms)
    return {
        "connected": active,
        "connected_ts": row["connected_ts"],
        "ip_address": row["ip_address"],
        "rx_bytes": row["rx_bytes"],
        "tx_bytes": row["tx_bytes"],
    }


def fetch_device(conn: sqlite3.Connection, user: str, device: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        SELECT + " WHERE user = ? AND device = ?", (user, device)
    ).fetchone()
    return row


@routes.post(DEVICES, summary="Create a device", body=request_schema("post", DEVICES))
async def create_device(request: Request) -> Response:
    """Create a device (HTTP by default). Generic and MQTT devices need ``credentials``."""
    emu, svc, user = await account_user(request)
    body = await read_json(request)
    validate("post", DEVICES, body)
    device = str(body["device"])
    dtype = str(body.get("type", "HTTP"))
    doc = {
        "name": body.get("name", ""),
        "description": body.get("description", ""),
        "enabled": body.get("enabled", True),
        "asset_type": body.get("asset_type"),
        "asset_group": body.get("asset_group"),
        "product": body.get("product"),
    }
    creds = body.get("credentials")
    now = emu.clock.now_ms()

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        if conn.execute("SELECT 1 FROM th_devices WHERE user = ? AND device = ?", (user, device)).fetchone():
            raise ApiProblem(400, f"device '{device}' already exists")
        conn.execute(
            "INSERT INTO th_devices(user, device, type, doc, credentials_hash, created, modified) "
            "VALUES (?,?,?,?,?,?,?)",
            (user, device, dtype, json.dumps(doc), hash_token(creds) if creds else None, now, now),
        )
        event = emu.events.stage(conn, "device.created", {"user": user, "device": device, "type": dtype})
        row = fetch_device(conn, user, device)
        assert row is not None
        return device_object(row, now), event

    return await commit(emu, write, lambda: svc.forget_device(user, device))


@routes.get(
    DEVICES,
    summary="List devices",
    query={
        "type": "only devices of this type (HTTP, Virtual, Generic, MQTT)",
        "name": "only devices whose id or name contains this text (case-insensitive)",
        "count": "at most this many devices",
        "index": "skip this many devices first (offset)",
    },
)
async def list_devices(request: Request) -> Response:
    """Every device of the user, ordered by id, with its connection state."""
    emu, _svc, user = await account_user(request)
    dtype = request.query_params.get("type") or None
    name = (request.query_params.get("name") or "").lower()
    count = query_int(request, "count", None, minimum=0)
    index = query_int(request, "index", 0, minimum=0) or 0
    now = emu.clock.now_ms()

    def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        sql = SELECT + " WHERE user = ?"
        args: list[Any] = [user]
        if dtype:
            sql += " AND type = ?"
            args.append(dtype)
        rows = conn.execute(sql + " ORDER BY device", args).fetchall()
        items = [device_object(r, now) for r in rows]
        if name:
            items = [d for d in items if name in d["device"].lower() or name in str(d["name"] or "").lower()]
        end = None if count is None else index + count
        return items[index:end]

    return ok(await emu.store.read(read))


@routes.get(DEVICE, summary="Read a device")
async def read_device(request: Request) -> Response:
    emu, _svc, user = await account_user(request)
    device = path_id(request, "device")
    now = emu.clock.now_ms()
    row = await emu.store.read(lambda c: fetch_device(c, user, device))
    if row is None:
        raise not_found("device", device)
    return ok(device_object(row, now))


@routes.put(DEVICE, summary="Update a device (partial)", body=request_schema("put", DEVICE))
async def update_device(request: Request) -> Response:
    """Change the given fields; ``""`` clears asset_type, asset_group and product.

    ``device`` and ``type`` cannot change: a body may repeat their current values (as the real
    server's "Full Update" example does), any other value is a 400.
    """
    emu, svc, user = await account_user(request)
    device = path_id(request, "device")
    body = await read_json(request)
    if not isinstance(body, dict):
        validate("put", DEVICE, body)
    now = emu.clock.now_ms()

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        row = fetch_device(conn, user, device)
        if row is None:
            raise not_found("device", device)
        rest = dict(body)
        for key, current in (("device", device), ("type", row["type"])):
            if key in rest:
                if rest[key] != current:
                    raise ApiProblem(400, f"field '{key}' cannot be changed (it is '{current}')")
                del rest[key]
        validate("put", DEVICE, rest)
        doc = json.loads(row["doc"])
        for key, value in rest.items():
            if key == "credentials":
                continue
            doc[key] = None if key in CLEARABLE and value == "" else value
        creds = rest.get("credentials")
        conn.execute(
            "UPDATE th_devices SET doc = ?, modified = ?, credentials_hash = COALESCE(?, credentials_hash) "
            "WHERE user = ? AND device = ?",
            (json.dumps(doc), now, hash_token(creds) if creds else None, user, device),
        )
        changed = sorted(k for k in rest if k != "credentials") + (["credentials"] if creds else [])
        event = emu.events.stage(conn, "device.updated", {"user": user, "device": device, "fields": changed})
        new = fetch_device(conn, user, device)
        assert new is not None
        return device_object(new, now), event

    return await commit(emu, write, lambda: svc.forget_device(user, device))


@routes.delete(DEVICE, summary="Delete a device (its callback, tokens and properties; buckets stay)")
async def delete_device(request: Request) -> Response:
    emu, svc, user = await account_user(request)
    device = path_id(request, "device")
    now = emu.clock.now_ms()

    def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        row = fetch_device(conn, user, device)
        if row is None:
            raise not_found("device", device)
        data = device_object(row, now)
        conn.execute("DELETE FROM th_devices WHERE user = ? AND device = ?", (user, device))
        conn.execute("DELETE FROM th_properties WHERE user = ? AND device = ?", (user, device))
        conn.execute("DELETE FROM tokens WHERE kind = 'device' AND user = ? AND device = ?", (user, device))
        event = emu.events.stage(conn, "device.deleted", {"user": user, "device": device})
        return data, event

    data, event = await emu.store.write(write)
    svc.forget_device(user, device)
    svc.monitor.discard(user, device)
    emu.auth.forget(user, device)
    svc.forget_tokens()
    emu.events.publish(event)
    return ok(data)


async def _stats(request: Request) -> Response:
    emu, _svc, user = await account_user(request)
    device = path_id(request, "device")
    now = emu.clock.now_ms()
    row = await emu.store.read(lambda c: fetch_device(c, user, device))
    if row is None:
        raise not_found("device", device)
    return ok(stats_object(row, now))


@routes.get(DEVICE + "/stats", summary="Connection statistics of a device")
async def device_stats(request: Request) -> Response:
    """``{"connected","connected_ts","ip_address","rx_bytes","tx_bytes"}``."""
    return await _stats(request)


@routes.get("/v3/users/{user}/devices/{device}/stats", summary="Connection statistics of a device (v3)")
async def device_stats_v3(request: Request) -> Response:
    """The same answer as ``/v1/.../stats`` (the real server has both paths)."""
    return await _stats(request)
