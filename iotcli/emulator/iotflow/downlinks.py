"""Downlinks posted to a connection's ``downlinkUrl``: validation, the class-A queue, and the events.

A downlink waits in its device's queue until that device's next uplink (class A). Then, in the
uplink's transaction, each queued downlink is handled in order:

- past its ``ValidityTime`` -> ``expired``, reported as ``DevEUI_downlink_Sent`` with
  ``DeliveryStatus 0`` and ``DeliveryFailedCause1 "B0"`` [source];
- an ``FCntDn`` below the counter the network expects -> ``rejected``, reported as
  ``DevEUI_downlink_Rejected`` "Downlink counter value already used. Expected=N" [source];
- otherwise the first one is ``sent`` (one per uplink [chosen]) and reported as
  ``DevEUI_downlink_Sent`` with ``DeliveryStatus 1``.

Those reports are forwarded to the connection's destination like uplinks.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.iotflow.connections import iso_time
from iotcli.emulator.iotflow.connector_schema import as_key_matches
from iotcli.emulator.iotflow.uplinks import MAX_FCNT, normalize_deveui, parse_fport, parse_payload_hex

if TYPE_CHECKING:
    from iotcli.emulator.iotflow.service import IotFlow

QUEUED, SENT, REJECTED, EXPIRED = "queued", "sent", "rejected", "expired"
STATUSES = (QUEUED, SENT, REJECTED, EXPIRED)
DOWNLINK_KEYS = {
    "Time", "DevEUI", "FPort", "payload_hex", "payload", "Confirmed", "FlushDownlinkQueue", "ValidityTime",
    "FCntDn", "CorrelationID", "AS_ID", "AS_KEY", "DriverCfg",
}  # fmt: skip
CORRELATION = re.compile(r"^[0-9a-fA-F]{16}$")


def _same(stored: str, given: str) -> bool:
    return hmac.compare_digest(given.encode(), stored.encode())


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if value in (True, 1, "1", "true", "True"):
        return True
    if value in (False, 0, "0", "false", "False", None):
        return False
    raise ApiProblem(400, f"field 'DevEUI_downlink.{key}' must be 0 or 1 (or true/false)")


def _iso(value: Any, key: str) -> float:
    if not isinstance(value, str):
        raise ApiProblem(400, f"field 'DevEUI_downlink.{key}' must be an ISO 8601 time")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiProblem(
            400, f"field 'DevEUI_downlink.{key}' must be an ISO 8601 time, got '{value[:40]}'"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def validate(body: Any, downlink_port: int | None) -> dict[str, Any]:
    """The checked downlink (normalised) or a 400 naming the field."""
    if not isinstance(body, dict) or not isinstance(body.get("DevEUI_downlink"), dict):
        raise ApiProblem(400, 'request body must be {"DevEUI_downlink": {...}}')
    extra = sorted(set(body) - {"DevEUI_downlink"})
    if extra:
        raise ApiProblem(400, f"unknown field '{extra[0]}'")
    dl = body["DevEUI_downlink"]
    unknown = sorted(set(dl) - DOWNLINK_KEYS)
    if unknown:
        raise ApiProblem(400, f"unknown field 'DevEUI_downlink.{unknown[0]}'")
    deveui = normalize_deveui(dl.get("DevEUI"), "DevEUI_downlink.DevEUI")
    if "FPort" in dl:
        fport = parse_fport(dl["FPort"], "DevEUI_downlink.FPort")
    elif downlink_port is not None:
        fport = downlink_port
    else:
        raise ApiProblem(
            400, "field 'DevEUI_downlink.FPort' is required (the connection has no downlinkPort)"
        )
    has_hex, has_payload = "payload_hex" in dl, "payload" in dl
    if has_hex == has_payload:
        raise ApiProblem(
            400, "give exactly one of 'DevEUI_downlink.payload_hex' or 'DevEUI_downlink.payload'"
        )
    payload_hex = parse_payload_hex(dl["payload_hex"], "DevEUI_downlink.payload_hex") if has_hex else None
    payload = dl.get("payload")
    if has_payload and not isinstance(payload, dict | str):
        raise ApiProblem(400, "field 'DevEUI_downlink.payload' must be an object")
    fcnt_dn = dl.get("FCntDn")
    if isinstance(fcnt_dn, str) and fcnt_dn.isdigit():
        fcnt_dn = int(fcnt_dn)
    if fcnt_dn is not None and (
        isinstance(fcnt_dn, bool) or not isinstance(fcnt_dn, int) or not 0 <= fcnt_dn <= MAX_FCNT
    ):
        raise ApiProblem(400, f"field 'DevEUI_downlink.FCntDn' must be an integer between 0 and {MAX_FCNT}")
    correlation = dl.get("CorrelationID")
    if correlation is not None and (not isinstance(correlation, str) or not CORRELATION.match(correlation)):
        raise ApiProblem(400, "field 'DevEUI_downlink.CorrelationID' must be 16 hex digits")
    validity = _iso(dl["ValidityTime"], "ValidityTime") if dl.get("ValidityTime") is not None else None
    if "Time" in dl and dl["Time"] is not None:
        _iso(dl["Time"], "Time")
    for key in ("AS_ID", "AS_KEY"):
        if key in dl and not isinstance(dl[key], str):
            raise ApiProblem(400, f"field 'DevEUI_downlink.{key}' must be a string")
    return {
        "deveui": deveui,
        "fport": fport,
        "payload_hex": payload_hex,
        "payload": payload,
        "confirmed": _flag(dl, "Confirmed"),
        "flush": _flag(dl, "FlushDownlinkQueue"),
        "fcnt_dn": fcnt_dn,
        "correlation_id": (correlation or secrets.token_hex(8)).upper(),
        "validity": validity,
        "as_id": dl.get("AS_ID"),
        "as_key": dl.get("AS_KEY"),
    }


#: The ``cause`` listed for a queued downlink whose ValidityTime has passed [chosen]: class A keeps it in the
#: queue until the device's next uplink, which reports it expired (B0).
PAST_VALIDITY = "ValidityTime passed: expires (B0) with the device's next uplink"


def _listed(row: sqlite3.Row, now: float) -> dict[str, Any]:
    item = _row_to_api(row)
    if row["status"] == QUEUED and row["validity"] is not None and row["validity"] <= now:
        item["cause"] = PAST_VALIDITY
    return item


def _row_to_api(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "DevEUI": row["deveui"],
        "connection": row["connection"],
        "status": row["status"],
        "FPort": row["fport"],
        "payload_hex": row["payload_hex"],
        "payload": None if row["payload"] is None else json.loads(row["payload"]),
        "Confirmed": bool(row["confirmed"]),
        "FCntDn": row["fcnt_dn"],
        "FCntUp": row["fcnt_up"],
        "CorrelationID": row["correlation_id"],
        "ValidityTime": None if row["validity"] is None else iso_time(row["validity"]),
        "cause": row["cause"],
        "created": int(row["created"] * 1000),
        "updated": int(row["updated"] * 1000),
    }


class DownlinkService:
    def __init__(self, service: IotFlow) -> None:
        self.service = service
        self.emu = service.emu
        #: Devices that may have queued downlinks (changed only in the store's thread), so that an
        #: uplink of any other device skips the queue lookup.
        self.queued_devices: set[str] = set()

    async def load(self) -> None:
        rows = await self.emu.store.read(
            lambda c: c.execute(
                "SELECT DISTINCT deveui FROM iotflow_downlinks WHERE status = ?", (QUEUED,)
            ).fetchall()
        )
        self.queued_devices = {r[0] for r in rows}

    async def post(self, raw_uuid: str, body: Any) -> dict[str, Any]:
        conn = self.service.connections.by_downlink_uuid(raw_uuid)
        if conn is None:
            raise ApiProblem(404, f"no connection with uuid '{raw_uuid[:64]}'")
        cfg = conn.configuration
        if not cfg.get("downlinkEnabled", True):
            raise ApiProblem(403, "downlinks are disabled on this connection (downlinkEnabled: false)")
        inner = body.get("DevEUI_downlink") if isinstance(body, dict) else None
        inner = inner if isinstance(inner, dict) else {}
        for key, setting, matches in (
            ("AS_ID", "downlinkAsId", _same),
            ("AS_KEY", "downlinkAsKey", as_key_matches),
        ):
            stored = cfg.get(setting)
            if stored and not matches(str(stored), str(inner.get(key, ""))):
                raise ApiProblem(401, f"'DevEUI_downlink.{key}' does not match the connection's {setting}")
        dl = validate(body, cfg.get("downlinkPort"))
        now = self.emu.clock.now()
        did = uuid.uuid4().hex

        def write(c: sqlite3.Connection) -> list[dict[str, Any]]:
            events = []
            if dl["flush"]:
                cur = c.execute(
                    "DELETE FROM iotflow_downlinks WHERE deveui = ? AND status = ?", (dl["deveui"], QUEUED)
                )
                if cur.rowcount:
                    events.append(
                        self.emu.events.stage(
                            c, "downlink.flushed", {"DevEUI": dl["deveui"], "count": cur.rowcount}
                        )
                    )
            c.execute(
                "INSERT INTO iotflow_downlinks(id, connection, deveui, status, fport, payload_hex, payload, confirmed, "
                "fcnt_dn, correlation_id, validity, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    did,
                    conn.id,
                    dl["deveui"],
                    QUEUED,
                    dl["fport"],
                    dl["payload_hex"],
                    None if dl["payload"] is None else json.dumps(dl["payload"]),
                    int(dl["confirmed"]),
                    dl["fcnt_dn"],
                    dl["correlation_id"],
                    dl["validity"],
                    now,
                    now,
                ),
            )
            self.queued_devices.add(dl["deveui"])
            events.append(
                self.emu.events.stage(
                    c,
                    "downlink.queued",
                    {"id": did, "DevEUI": dl["deveui"], "FPort": dl["fport"], "connection": conn.id},
                )
            )
            return events

        events = await self.emu.store.write(write)
        self.emu.events.publish(*events)
        return {"id": did, "status": QUEUED}

    def transmit(
        self, c: sqlite3.Connection, deveui: str, uplink: dict[str, Any], fcnt_dn: int, now: float
    ) -> tuple[list[tuple[str, str, dict[str, Any]]], list[tuple[str, dict[str, Any]]], int]:
        """Inside the uplink's transaction: handle the queue of ``deveui`` (the uplink's device).

        Returns the reports to forward ``(connection, wrapper, object)``, journal events, and the
        device's next expected FCntDn.
        """
        if deveui not in self.queued_devices:
            return [], [], fcnt_dn
        rows = c.execute(
            "SELECT * FROM iotflow_downlinks WHERE deveui = ? AND status = ? ORDER BY created, rowid",
            (deveui, QUEUED),
        ).fetchall()
        if not rows:
            # Forgotten only once the store says so: a rolled-back transmit leaves the device listed.
            self.queued_devices.discard(deveui)
        reports: list[tuple[str, str, dict[str, Any]]] = []
        journal: list[tuple[str, dict[str, Any]]] = []
        radio: dict[str, Any] = {
            k: uplink[k] for k in ("Lrcid", "SpFact", "SubBand", "Channel", "Lrrid") if k in uplink
        }
        common = {"CustomerID": uplink.get("CustomerID"), "CustomerData": uplink.get("CustomerData")}
        for row in rows:
            report: dict[str, Any]
            used: int | None
            base: dict[str, Any] = {"Time": iso_time(now), "DevEUI": deveui, "FPort": row["fport"]}
            if row["validity"] is not None and row["validity"] < now:
                status, cause, used = EXPIRED, "B0", None
                report = {
                    **base,
                    "FCntDn": fcnt_dn,
                    "FCntUp": uplink.get("FCntUp"),
                    **radio,
                    "DeliveryStatus": 0,
                    "DeliveryFailedCause1": "B0",
                    "DeliveryFailedCause2": "00",
                    "DeliveryFailedCause3": "00",
                    **common,
                    "TransmissionSlot": 1,
                    "Frequency": uplink.get("Frequency"),
                    "CorrelationID": row["correlation_id"],
                }
                wrapper = "DevEUI_downlink_Sent"
            elif row["fcnt_dn"] is not None and row["fcnt_dn"] < fcnt_dn:
                status, used = REJECTED, None
                cause = f"Downlink counter value already used. Expected={fcnt_dn}"
                report = {
                    **base,
                    "DeliveryStatus": 350,
                    "DownlinkRejectionCause": cause,
                    "CustomerID": uplink.get("CustomerID"),
                    "CorrelationID": row["correlation_id"],
                }
                wrapper = "DevEUI_downlink_Rejected"
            else:
                used = row["fcnt_dn"] if row["fcnt_dn"] is not None else fcnt_dn
                status, cause = SENT, "00"
                report = {
                    **base,
                    "FCntDn": used,
                    "FCntUp": uplink.get("FCntUp"),
                    **radio,
                    "DeliveryStatus": 1,
                    "DeliveryFailedCause1": "00",
                    **common,
                    "TransmissionSlot": 1,
                    "Frequency": uplink.get("Frequency"),
                    "CorrelationID": row["correlation_id"],
                }
                wrapper = "DevEUI_downlink_Sent"
                fcnt_dn = (used + 1) % (MAX_FCNT + 1)
            c.execute(
                "UPDATE iotflow_downlinks SET status = ?, cause = ?, fcnt_dn = COALESCE(?, fcnt_dn), fcnt_up = ?, "
                "updated = ? WHERE id = ?",
                (status, cause, used, uplink.get("FCntUp"), now, row["id"]),
            )
            reports.append((row["connection"], wrapper, report))
            journal.append(
                (f"downlink.{status}", {"id": row["id"], "DevEUI": deveui, "status": status, "cause": cause})
            )
            if status == SENT:
                break  # one downlink per uplink; the rest wait for the next one
        return reports, journal, fcnt_dn

    async def list(self, deveui: str | None, status: str | None, limit: int) -> list[dict[str, Any]]:
        now = self.emu.clock.now()

        def query(c: sqlite3.Connection) -> list[dict[str, Any]]:
            sql = "SELECT * FROM iotflow_downlinks WHERE 1=1"
            args: list[Any] = []
            if deveui:
                sql += " AND deveui = ?"
                args.append(deveui)
            if status:
                sql += " AND status = ?"
                args.append(status)
            sql += " ORDER BY created DESC, rowid DESC LIMIT ?"
            args.append(limit)
            return [_listed(r, now) for r in c.execute(sql, args).fetchall()]

        return await self.emu.store.read(query)
