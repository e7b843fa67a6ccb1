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
import sqlite3
import uuid
from typing import TYPE_CHECKING, Any

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.iotflow import lrc_tunnel
from iotcli.emulator.iotflow.connection_model import Connection, iso_time
from iotcli.emulator.iotflow.connection_secrets import as_key_matches
from iotcli.emulator.iotflow.fields import validate_downlink
from iotcli.models.lorawan import MAX_FCNT

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator
    from iotcli.emulator.iotflow.connections import ConnectionService

QUEUED, SENT, REJECTED, EXPIRED = "queued", "sent", "rejected", "expired"
STATUSES = (QUEUED, SENT, REJECTED, EXPIRED)


def _same(stored: str, given: str) -> bool:
    return hmac.compare_digest(given.encode(), stored.encode())


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
    def __init__(self, emu: Emulator, connections: ConnectionService) -> None:
        self.emu = emu
        self.connections = connections
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
        conn = self.connections.by_downlink_uuid(raw_uuid)
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
        dl = validate_downlink(body, cfg.get("downlinkPort"), self.emu.clock.now())
        return await self.queue(conn, dl, source="downlinkMessages")

    async def tunnel(self, pairs: list[tuple[str, str]]) -> dict[str, Any]:
        """``POST /thingpark/lrc/rest/downlink``: the query's pairs (decoded, in order) checked, the
        connection found by AS_ID and Token (``lrc_tunnel``), the downlink queued; the 202 body."""
        given = lrc_tunnel.single_values(pairs)
        candidates = lrc_tunnel.connections_for(self.connections.cache.values(), given)
        conn = lrc_tunnel.authenticate(candidates, pairs, given.get("Token"))
        self.check_enabled(conn)
        body = lrc_tunnel.downlink_body(conn, given)
        checked = validate_downlink(
            body, conn.configuration.get("downlinkPort"), self.emu.clock.now(), lrc_tunnel.QUERY_FIELDS
        )
        answer = await self.queue(conn, checked, source="lrc-tunnel")
        ignored = lrc_tunnel.unknown_params(given)
        if ignored:
            await self.emu.events.record(
                "downlink.warning",
                id=answer["id"],
                message=f"LRC tunnel: query parameters not known, ignored: {', '.join(ignored)}",
            )
        return answer

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
