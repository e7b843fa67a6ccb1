"""What the inspector shows, read through the same queries and services as the API.

Every function here returns plain data with the secrets already masked: the templates never see a
token, a ``downlinkAsKey``, a ``tiak``, a proxy password or an ``Authorization`` header value.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from typing import TYPE_CHECKING, Any

from iotcli.delivery.outbox import FINAL
from iotcli.emulator import deliveries as journal
from iotcli.emulator.deliveries import STATUSES
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.iotflow.connector_schema import MASK
from iotcli.emulator.thinger.backend.buckets import BUCKET_DOCS
from iotcli.emulator.thinger.backend.callbacks import settings_object
from iotcli.emulator.thinger.backend.devices import SELECT as DEVICE_SELECT
from iotcli.emulator.thinger.backend.devices import device_object, fetch_device, stats_object
from iotcli.emulator.thinger.backend.endpoints import ENDPOINT_DOCS
from iotcli.emulator.thinger.backend.properties import property_object
from iotcli.emulator.thinger.bucket_query import ReadQuery
from iotcli.models import masking
from iotcli.models.headers import is_secret_header

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

#: Rows per page of the paged tables (records, deliveries).
PAGE = 50
#: Points the bucket chart draws at most (the API's own maximum per read).
CHART_POINTS = 1000


# -- masking ---------------------------------------------------------------------------------------


def mask_headers(headers: Any) -> Any:
    """A header map or ``[{"key","value"}]`` list with every secret-looking value masked."""
    if isinstance(headers, dict):
        return {k: (MASK if is_secret_header(str(k)) else v) for k, v in headers.items()}
    if isinstance(headers, list):
        out = []
        for item in headers:
            if isinstance(item, dict) and is_secret_header(str(item.get("key", ""))):
                item = {**item, "value": MASK}
            out.append(item)
        return out
    return headers


def mask_url(url: Any) -> Any:
    """A URL with its password and secret query values masked (``iotcli.models.masking``, the rule of the
    journal and the CLI); anything that is not a URL as it is."""
    if not isinstance(url, str) or "://" not in url:
        return url
    return masking.mask_url(url)


def _mask_endpoint(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    config = doc.get("config")
    if isinstance(config, dict):
        if "headers" in config:
            config["headers"] = mask_headers(config["headers"])
        if "url" in config:
            config["url"] = mask_url(config["url"])
    return doc


# -- overview --------------------------------------------------------------------------------------


async def overview(emu: Emulator) -> dict[str, Any]:
    user = emu.settings.user

    def read(conn: sqlite3.Connection) -> dict[str, Any]:
        def count(sql: str, *args: Any) -> int:
            return int(conn.execute(sql, args).fetchone()[0])

        deliveries = {s: 0 for s in STATUSES}
        for row in conn.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status"):
            deliveries[row[0]] = row[1]
        return {
            "devices": count("SELECT COUNT(*) FROM th_devices WHERE user = ?", user),
            "connected": count("SELECT COUNT(*) FROM th_devices WHERE user = ? AND connected = 1", user),
            "buckets": count("SELECT COUNT(*) FROM th_buckets WHERE user = ?", user),
            "endpoints": count("SELECT COUNT(*) FROM th_endpoints WHERE user = ?", user),
            "downlinks_queued": count("SELECT COUNT(*) FROM iotflow_downlinks WHERE status = 'queued'"),
            "sinks": count("SELECT COUNT(*) FROM sinks"),
            "deliveries": deliveries,
        }

    counts = await emu.store.read(read)
    counts["connections"] = len(emu.services["iotflow"].connections.list(user))
    return {
        "health": emu.health(),
        "clock": emu.clock.to_dict(),
        "counts": counts,
        "events": list(reversed(await emu.events.list(limit=20))),
    }


# -- devices ---------------------------------------------------------------------------------------


async def devices(emu: Emulator) -> list[dict[str, Any]]:
    user, now = emu.settings.user, emu.clock.now_ms()

    def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        rows = conn.execute(DEVICE_SELECT + " WHERE user = ? ORDER BY device", (user,)).fetchall()
        return [
            {**device_object(r, now), "stats": stats_object(r, now), "last_seen": r["last_seen"]}
            for r in rows
        ]

    return await emu.store.read(read)


async def device(emu: Emulator, name: str) -> dict[str, Any]:
    user, now = emu.settings.user, emu.clock.now_ms()

    def read(conn: sqlite3.Connection) -> dict[str, Any] | None:
        row = fetch_device(conn, user, name)
        if row is None:
            return None
        props = conn.execute(
            "SELECT property, doc, created, modified FROM th_properties WHERE user = ? AND device = ? "
            "ORDER BY property",
            (user, name),
        ).fetchall()
        # Only what a token list shows: never the hash, and the secret is not kept at all.
        tokens = conn.execute(
            "SELECT id, name, created, expires, last_used FROM tokens "
            "WHERE kind = 'device' AND user = ? AND device = ? ORDER BY created, id",
            (user, name),
        ).fetchall()
        return {
            **device_object(row, now),
            "stats": stats_object(row, now),
            "last_seen": row["last_seen"],
            "callback": settings_object(json.loads(row["callback"]) if row["callback"] else None),
            "properties": [property_object(p) for p in props],
            "tokens": [
                {
                    "id": t["id"],
                    "name": t["name"],
                    "created": t["created"],
                    "expires": t["expires"],
                    "expired": t["expires"] is not None and t["expires"] <= now,
                    "last_used": t["last_used"],
                }
                for t in tokens
            ],
        }

    data = await emu.store.read(read)
    if data is None:
        raise ApiProblem(404, f"device '{name}' not found")
    return data


# -- buckets and endpoints -------------------------------------------------------------------------


async def buckets(emu: Emulator) -> list[dict[str, Any]]:
    user = emu.settings.user

    def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        items = BUCKET_DOCS.list(conn, (user,))
        counts = dict(
            conn.execute(
                "SELECT bucket, COUNT(*) FROM th_bucket_data WHERE user = ? GROUP BY bucket", (user,)
            ).fetchall()
        )
        for item in items:
            item["records"] = counts.get(item["bucket"], 0)
        return items

    return await emu.store.read(read)


async def bucket(
    emu: Emulator, name: str, *, min_ts: int | None, max_ts: int | None, before: int | None
) -> dict[str, Any]:
    """A bucket, one page of its records (newest first, keyset paging by ``before``) and the chart's points."""
    svc = emu.services["thinger"]
    user = emu.settings.user
    doc = await emu.store.read(lambda c: BUCKET_DOCS.fetch(c, (user,), name))
    if doc is None:
        raise ApiProblem(404, f"bucket '{name}' not found")
    page_max = max_ts if before is None else (before - 1 if max_ts is None else min(max_ts, before - 1))
    page = await svc.buckets.read_records(
        user, name, ReadQuery(PAGE + 1, min_ts, page_max, "desc", None, None), False, None
    )
    more = len(page) > PAGE
    page = page[:PAGE]
    points = await svc.buckets.read_records(
        user, name, ReadQuery(CHART_POINTS, min_ts, max_ts, "desc", None, None), False, None
    )
    points.reverse()
    return {
        "bucket": BUCKET_DOCS.show(doc),
        "records": page,
        "next_before": page[-1]["ts"] if more and page else None,
        "chart": chart_series(points),
        "chart_truncated": len(points) >= CHART_POINTS,
    }


def chart_series(records: list[dict[str, Any]]) -> dict[str, Any]:
    """uPlot's columns: ``{"x": [seconds...], "series": {field: [value or null...]}}`` of the numeric fields."""
    fields: list[str] = []
    for rec in records:
        val = rec["val"]
        if isinstance(val, dict):
            for key, value in val.items():
                if isinstance(value, int | float) and not isinstance(value, bool) and key not in fields:
                    fields.append(key)
        elif isinstance(val, int | float) and not isinstance(val, bool) and "value" not in fields:
            fields.append("value")
    series: dict[str, list[float | None]] = {f: [] for f in fields}
    for rec in records:
        val = rec["val"] if isinstance(rec["val"], dict) else {"value": rec["val"]}
        for f in fields:
            v = val.get(f)
            series[f].append(v if isinstance(v, int | float) and not isinstance(v, bool) else None)
    return {"x": [r["ts"] / 1000 for r in records], "series": series}


async def endpoints(emu: Emulator) -> list[dict[str, Any]]:
    user = emu.settings.user
    items = await emu.store.read(lambda c: ENDPOINT_DOCS.list(c, (user,)))
    return [_mask_endpoint(item) for item in items]


# -- connections -----------------------------------------------------------------------------------


def _connection_view(emu: Emulator, conn: Any, backlog: int) -> dict[str, Any]:
    data = conn.to_api(emu.settings.base_url)
    config = data.get("configuration") or {}
    if isinstance(config.get("headers"), dict):
        config["headers"] = mask_headers(config["headers"])
    if "destinationURL" in config:
        config["destinationURL"] = mask_url(config["destinationURL"])
    data["backlog"] = backlog
    data["state_reason"] = conn.state_reason
    return data


async def _backlogs(emu: Emulator) -> dict[str, int]:
    rows = await emu.store.read(
        lambda c: c.execute(
            "SELECT connection, COUNT(*) FROM deliveries WHERE status = 'pending' AND connection IS NOT NULL "
            "GROUP BY connection"
        ).fetchall()
    )
    return {r[0]: r[1] for r in rows}


async def connections(emu: Emulator) -> list[dict[str, Any]]:
    backlog = await _backlogs(emu)
    items = emu.services["iotflow"].connections.list(emu.settings.user)
    return [_connection_view(emu, c, backlog.get(c.id, 0)) for c in items]


async def connection(emu: Emulator, cid: str) -> dict[str, Any]:
    conn = emu.services["iotflow"].connections.get(emu.settings.user, cid)
    backlog = await _backlogs(emu)
    data = _connection_view(emu, conn, backlog.get(conn.id, 0))
    # Its state history: the journal's connection.state events (the newest thousand looked at).
    events = await emu.events.list(kind="connection.state", limit=1000)
    data["history"] = [e for e in reversed(events) if e.get("connection") == conn.id]
    return data


# -- deliveries, downlinks, events, sinks ------------------------------------------------------------


async def deliveries(
    emu: Emulator, *, status: str | None, connection: str | None, device: str | None, before: int | None
) -> dict[str, Any]:
    if status and status not in STATUSES:
        raise ApiProblem(400, f"status must be one of {', '.join(STATUSES)}")
    filters = {"status": status, "connection": connection, "device": device}
    items = await journal.list_deliveries(emu, filters, limit=PAGE + 1, before=before)
    more = len(items) > PAGE
    items = items[:PAGE]
    return {"rows": items, "next_before": int(items[-1]["id"]) if more and items else None}


async def delivery(emu: Emulator, did: int) -> dict[str, Any]:
    data = await journal.show(emu, did)
    for attempt in data["attempt_log"]:
        # The journal masks secret headers already; masked once more in case an older row did not.
        attempt["headers"] = mask_headers(attempt["headers"])
        attempt["url"] = mask_url(attempt["url"])
    data["replayable"] = data["status"] in FINAL - {"delivered"}
    return data


async def downlinks(emu: Emulator) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = await emu.services["iotflow"].downlinks.list(None, None, 200)
    return items


async def events(emu: Emulator, kind: str | None) -> list[dict[str, Any]]:
    return list(reversed(await emu.events.list(kind=kind or None, limit=100)))


async def sinks(emu: Emulator) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = await emu.services["sinks"].list_all()
    return items


async def sink(emu: Emulator, name: str) -> dict[str, Any]:
    service = emu.services["sinks"]
    data = dict(await service.get(name))
    total = int(data.get("requests") or 0)
    after = max(0, int(data.get("last_request") or 0) - PAGE) if total > PAGE else None
    data["recorded"] = list(reversed(await service.requests(name, after=after, limit=PAGE)))
    return data
