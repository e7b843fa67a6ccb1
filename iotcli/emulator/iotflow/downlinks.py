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
import sqlite3
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.iotflow.connections import Connection, iso_time
from iotcli.emulator.iotflow.connector_schema import as_key_matches
from iotcli.emulator.iotflow.uplinks import MAX_FCNT, normalize_deveui, parse_fport, parse_payload_hex

if TYPE_CHECKING:
    from iotcli.emulator.iotflow.service import IotFlow

QUEUED, SENT, REJECTED, EXPIRED = "queued", "sent", "rejected", "expired"
STATUSES = (QUEUED, SENT, REJECTED, EXPIRED)
#: The fields of ``DevEUI_downlink`` [source: actility/tpx-iot-flow-doc docs/Message/Downlink_Message/README.md].
DOWNLINK_KEYS = {
    "Time", "DevEUI", "FPort", "payload_hex", "payload", "Confirmed", "FlushDownlinkQueue", "ValidityTime",
    "FCntDn", "AFCntDn", "CorrelationID", "AS_ID", "AS_KEY", "Token", "RetryIneligibleGateways", "DriverCfg",
}  # fmt: skip
#: "64 bits ID", "STRING (64 bits hexadecimal)": 1 to 16 hex digits; the docs show "4434704901C7450B"
#: (Downlink_Message, thingpark-integrations downlink_frame_sent_report.json) and "1234" (the LRC
#: application-server examples, send_downlink_with_token.py).
CORRELATION = re.compile(r"^[0-9a-fA-F]{1,16}$")
TOKEN = re.compile(r"^[0-9a-fA-F]{64}$")
#: A ValidityTime in seconds: the largest accepted (about 10 years) [chosen].
MAX_VALIDITY_SECONDS = 10 * 365 * 86400
#: Fields kept as given in the downlink's ``extra`` (listed; not acted on by the emulator).
EXTRA_KEYS = ("Time", "AFCntDn", "RetryIneligibleGateways", "Token", "DriverCfg")


def _same(stored: str, given: str) -> bool:
    return hmac.compare_digest(given.encode(), stored.encode())


class Fields:
    """How a downlink's fields are named in errors: ``DevEUI_downlink.FPort`` in a JSON body, ``FPort``
    in the LRC tunnel's query (where the hex payload is ``Payload``)."""

    def __init__(self, prefix: str = "DevEUI_downlink.", rename: dict[str, str] | None = None) -> None:
        self.prefix = prefix
        self.rename = rename or {}

    def __call__(self, key: str) -> str:
        return self.prefix + self.rename.get(key, key)


BODY_FIELDS = Fields()


def _flag(body: dict[str, Any], key: str, name: Fields, default: bool = False) -> bool:
    value = body.get(key, default)
    if value in (True, 1, "1", "true", "True"):
        return True
    if value in (False, 0, "0", "false", "False", None):
        return False
    raise ApiProblem(400, f"field '{name(key)}' must be 0 or 1 (or true/false)")


def _iso(value: Any, key: str, name: Fields) -> float:
    if not isinstance(value, str):
        raise ApiProblem(400, f"field '{name(key)}' must be an ISO 8601 time")
    try:
        dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ApiProblem(400, f"field '{name(key)}' must be an ISO 8601 time, got '{value[:40]}'") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def _counter(value: Any, key: str, name: Fields) -> int | None:
    """A 32-bit unsigned frame counter (a number, or digits as Jackson coerces them)."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_FCNT:
        raise ApiProblem(400, f"field '{name(key)}' must be an integer between 0 and {MAX_FCNT}")
    return value


def validity_time(value: Any, now: float, name: Fields = BODY_FIELDS) -> float:
    """``ValidityTime``: "ISO 8601 timestamp or Duration in seconds" [source] -> emulator epoch seconds.

    A duration counts from the downlink's arrival (emulator clock): a number, or a string of digits.
    """
    seconds: Any = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        seconds = float(value)
    if seconds is not None:
        if not 0 <= seconds <= MAX_VALIDITY_SECONDS:
            raise ApiProblem(
                400,
                f"field '{name('ValidityTime')}' in seconds must be between 0 and {MAX_VALIDITY_SECONDS}",
            )
        return now + float(seconds)
    if not isinstance(value, str):
        raise ApiProblem(
            400, f"field '{name('ValidityTime')}' must be an ISO 8601 time or a duration in seconds"
        )
    return _iso(value, "ValidityTime", name)


def correlation_id(value: Any, name: Fields = BODY_FIELDS) -> str:
    """The CorrelationID as given ('' when none): 1 to 16 hex digits (a JSON number of digits too)."""
    if value is None or value == "":
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not CORRELATION.match(value):
        raise ApiProblem(400, f"field '{name('CorrelationID')}' must be 1 to 16 hex digits (64 bits)")
    return value


def validate(
    body: Any, downlink_port: int | None, now: float = 0.0, name: Fields = BODY_FIELDS
) -> dict[str, Any]:
    """The checked downlink (normalised) or a 400 naming the field."""
    if not isinstance(body, dict) or not isinstance(body.get("DevEUI_downlink"), dict):
        raise ApiProblem(400, 'request body must be {"DevEUI_downlink": {...}}')
    extra = sorted(set(body) - {"DevEUI_downlink"})
    if extra:
        raise ApiProblem(400, f"unknown field '{extra[0]}'")
    dl = body["DevEUI_downlink"]
    unknown = sorted(set(dl) - DOWNLINK_KEYS)
    if unknown:
        raise ApiProblem(400, f"unknown field '{name(unknown[0])}'")
    deveui = normalize_deveui(dl.get("DevEUI"), name("DevEUI"))
    if "FPort" in dl:
        fport = parse_fport(dl["FPort"], name("FPort"))
    elif downlink_port is not None:
        fport = downlink_port
    else:
        raise ApiProblem(400, f"field '{name('FPort')}' is required (the connection has no downlinkPort)")
    has_hex, has_payload = "payload_hex" in dl, "payload" in dl
    if has_hex == has_payload:
        raise ApiProblem(400, f"give exactly one of '{name('payload_hex')}' or '{name('payload')}'")
    payload_hex = parse_payload_hex(dl["payload_hex"], name("payload_hex")) if has_hex else None
    payload = dl.get("payload")
    if has_payload and not isinstance(payload, dict | str):
        raise ApiProblem(400, f"field '{name('payload')}' must be an object")
    fcnt_dn = _counter(dl.get("FCntDn"), "FCntDn", name)
    afcnt_dn = _counter(dl.get("AFCntDn"), "AFCntDn", name)
    validity = validity_time(dl["ValidityTime"], now, name) if dl.get("ValidityTime") is not None else None
    if dl.get("Time") is not None:
        _iso(dl["Time"], "Time", name)
    for key in ("AS_ID", "AS_KEY"):
        if key in dl and not isinstance(dl[key], str):
            raise ApiProblem(400, f"field '{name(key)}' must be a string")
    token = dl.get("Token")
    if token is not None and (not isinstance(token, str) or not TOKEN.match(token)):
        raise ApiProblem(400, f"field '{name('Token')}' must be 64 hex digits (a SHA-256)")
    if "DriverCfg" in dl and not isinstance(dl["DriverCfg"], dict):
        raise ApiProblem(400, f"field '{name('DriverCfg')}' must be an object")
    kept = {key: dl[key] for key in EXTRA_KEYS if dl.get(key) is not None}
    if "RetryIneligibleGateways" in kept:
        # Multicast only [source]: stored as 0/1, no effect on a unicast class-A downlink.
        kept["RetryIneligibleGateways"] = int(_flag(dl, "RetryIneligibleGateways", name, True))
    if afcnt_dn is not None:
        kept["AFCntDn"] = afcnt_dn
    return {
        "deveui": deveui,
        "fport": fport,
        "payload_hex": payload_hex,
        "payload": payload,
        "confirmed": _flag(dl, "Confirmed", name),
        "flush": _flag(dl, "FlushDownlinkQueue", name),
        # The counter the AS encrypted with: FCntDn (LoRaWAN 1.0) or else AFCntDn (1.1) [source].
        "fcnt_dn": fcnt_dn if fcnt_dn is not None else afcnt_dn,
        "correlation_id": correlation_id(dl.get("CorrelationID"), name),
        "validity": validity,
        "as_id": dl.get("AS_ID"),
        "as_key": dl.get("AS_KEY"),
        "extra": kept,
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
        "CorrelationID": row["correlation_id"] or None,
        "ValidityTime": None if row["validity"] is None else iso_time(row["validity"]),
        "cause": row["cause"],
        "created": int(row["created"] * 1000),
        "updated": int(row["updated"] * 1000),
        **_extra(row),
    }


def _extra(row: sqlite3.Row) -> dict[str, Any]:
    raw = row["extra"]
    return json.loads(raw) if raw else {}


def sent_report(
    base: dict[str, Any],
    next_fcnt_dn: int,
    uplink: dict[str, Any],
    radio: dict[str, Any],
    common: dict[str, Any],
    status: int,
    cause1: str,
    correlation: str,
) -> dict[str, Any]:
    """A ``DevEUI_downlink_Sent`` in the documented field order [source: Downlink_Message/README.md].

    ``FCntDn`` is "the downlink counter to be used for the next downlink frame" (the last one used + 1);
    ``DeliveryFailedCause1..3`` are the RX1, RX2 and ping-slot causes ("00": no error; class A uses
    RX1 only [chosen]); ``CorrelationID`` is sent back only "when this parameter is provided".
    """
    report: dict[str, Any] = {
        **base,
        "FCntDn": next_fcnt_dn,
        "FCntUp": uplink.get("FCntUp"),
        **radio,
        "DeliveryStatus": status,
        "DeliveryFailedCause1": cause1,
        "DeliveryFailedCause2": "00",
        "DeliveryFailedCause3": "00",
        **common,
        "TransmissionSlot": 1,
        "Frequency": uplink.get("Frequency"),
    }
    if correlation:
        report["CorrelationID"] = correlation
    return report


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
        """``POST /iot-flow/downlinkMessages/{uuid}``: check AS_ID/AS_KEY and the body; queue it."""
        conn = self.service.connections.by_downlink_uuid(raw_uuid)
        if conn is None:
            raise ApiProblem(404, f"no connection with uuid '{raw_uuid[:64]}'")
        self.check_enabled(conn)
        cfg = conn.configuration
        inner = body.get("DevEUI_downlink") if isinstance(body, dict) else None
        inner = inner if isinstance(inner, dict) else {}
        for key, setting, matches in (
            ("AS_ID", "downlinkAsId", _same),
            ("AS_KEY", "downlinkAsKey", as_key_matches),
        ):
            stored = cfg.get(setting)
            if stored and not matches(str(stored), str(inner.get(key, ""))):
                raise ApiProblem(401, f"'DevEUI_downlink.{key}' does not match the connection's {setting}")
        dl = validate(body, cfg.get("downlinkPort"), self.emu.clock.now())
        return await self.queue(conn, dl, source="downlinkMessages")

    @staticmethod
    def check_enabled(conn: Connection) -> None:
        if not conn.configuration.get("downlinkEnabled", True):
            raise ApiProblem(403, "downlinks are disabled on this connection (downlinkEnabled: false)")

    async def queue(self, conn: Connection, dl: dict[str, Any], *, source: str) -> dict[str, Any]:
        """Put a checked downlink (``validate``) in its device's class-A queue; the 202 body."""
        now = self.emu.clock.now()
        did = uuid.uuid4().hex
        extra = {**dl.get("extra", {}), "source": source}

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
                "fcnt_dn, correlation_id, validity, created, updated, extra) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                    json.dumps(extra),
                ),
            )
            self.queued_devices.add(dl["deveui"])
            events.append(
                self.emu.events.stage(
                    c,
                    "downlink.queued",
                    {
                        "id": did,
                        "DevEUI": dl["deveui"],
                        "FPort": dl["fport"],
                        "connection": conn.id,
                        "source": source,
                    },
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
                report = sent_report(base, fcnt_dn, uplink, radio, common, 0, "B0", row["correlation_id"])
                wrapper = "DevEUI_downlink_Sent"
            elif row["fcnt_dn"] is not None and row["fcnt_dn"] < fcnt_dn:
                status, used = REJECTED, None
                cause = f"Downlink counter value already used. Expected={fcnt_dn}"
                report = {
                    **base,
                    "DeliveryStatus": 350,
                    "DownlinkRejectionCause": cause,
                    "CustomerID": uplink.get("CustomerID"),
                }
                if row["correlation_id"]:
                    report["CorrelationID"] = row["correlation_id"]  # [chosen]: as in Sent reports
                wrapper = "DevEUI_downlink_Rejected"
            else:
                used = row["fcnt_dn"] if row["fcnt_dn"] is not None else fcnt_dn
                status, cause = SENT, "00"
                fcnt_dn = (used + 1) % (MAX_FCNT + 1)
                report = sent_report(base, fcnt_dn, uplink, radio, common, 1, "00", row["correlation_id"])
                wrapper = "DevEUI_downlink_Sent"
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
