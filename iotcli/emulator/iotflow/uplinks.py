"""LoRaWAN uplink ingress: a realistic ``DevEUI_uplink`` built, stored and queued in one transaction.

``POST /_emulator/lorawan/uplinks`` answers once the uplink and one delivery per connection are
committed; it never waits for a destination. Frame counters live in SQLite (``iotflow_devices``).
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from iotcli.delivery.outbox import PENDING, Delivery, enqueue
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.iotflow.connection_model import (
    CLOSED,
    RETENTION,
    Connection,
    iso_time,
    normalize_connection_id,
)
from iotcli.emulator.iotflow.fields import normalize_deveui, parse_fport, parse_payload_hex, whole_number
from iotcli.emulator.iotflow.jsonbody import compact_json
from iotcli.emulator.iotflow.reconnect_schedule import next_attempt
from iotcli.models.iotflow import build_uplink as build_message
from iotcli.models.iotflow import devaddr_for
from iotcli.models.lorawan import MAX_FCNT, UPLINK_KEYS

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator
    from iotcli.emulator.iotflow.connections import ConnectionService
    from iotcli.emulator.iotflow.downlinks import DownlinkService

#: LoRaWAN RECEIVE_DELAY1: the class-A downlink window opens this long after the uplink.
RX1_DELAY = 1.0


@dataclass
class UplinkRequest:
    deveui: str
    fport: int
    payload_hex: str
    payload: dict[str, Any] | None
    connections: list[str] | None
    overrides: dict[str, Any] = field(default_factory=dict)


def parse_request(body: dict[str, Any]) -> UplinkRequest:
    unknown = sorted(set(body) - UPLINK_KEYS)
    if unknown:
        raise ApiProblem(400, f"unknown field '{unknown[0]}'")
    deveui = normalize_deveui(body.get("DevEUI"))
    if "FPort" not in body:
        raise ApiProblem(400, "field 'FPort' is required: an integer between 1 and 224")
    fport = parse_fport(body["FPort"])
    if "payload_hex" not in body and "payload" not in body:
        raise ApiProblem(400, "one of 'payload_hex' or 'payload' is required")
    payload_hex = parse_payload_hex(body["payload_hex"]) if "payload_hex" in body else ""
    payload = body.get("payload")
    if "payload" in body and not isinstance(payload, dict):
        raise ApiProblem(400, "field 'payload' must be a JSON object (the decoded payload)")
    connections = body.get("connections")
    if connections is not None and (
        not isinstance(connections, list)
        or not connections
        or not all(isinstance(c, str) for c in connections)
    ):
        raise ApiProblem(400, "field 'connections' must be a non-empty list of connection ids")
    overrides = body.get("DevEUI_uplink", {})
    if not isinstance(overrides, dict):
        raise ApiProblem(400, "field 'DevEUI_uplink' must be an object of fields to override")
    if "DevEUI" in overrides:
        # The device is the top-level DevEUI (its counters and downlink queue): an override may only repeat it.
        if normalize_deveui(overrides["DevEUI"], "DevEUI_uplink.DevEUI") != deveui:
            raise ApiProblem(
                400, "field 'DevEUI_uplink.DevEUI' must be the uplink's DevEUI (set the device there)"
            )
        overrides = {**overrides, "DevEUI": deveui}
    if "FCntUp" in overrides:
        fcnt = whole_number(overrides["FCntUp"])
        if isinstance(fcnt, bool) or not isinstance(fcnt, int) or not 0 <= fcnt <= MAX_FCNT:
            raise ApiProblem(
                400, f"field 'FCntUp' in 'DevEUI_uplink' must be an integer between 0 and {MAX_FCNT}"
            )
        overrides = {**overrides, "FCntUp": fcnt}
    return UplinkRequest(deveui, fport, payload_hex, payload, connections, overrides)


def build_uplink(
    req: UplinkRequest, *, now: float, fcnt_up: int, fcnt_dn: int, devaddr: str
) -> dict[str, Any]:
    """A ``DevEUI_uplink`` object as ThingPark sends it (number-typed; ``iotcli.models.iotflow``), overrides applied."""
    uplink = build_message(
        req.deveui,
        req.fport,
        time=iso_time(now),
        fcnt_up=fcnt_up,
        fcnt_dn=fcnt_dn,
        payload_hex=req.payload_hex,
        payload=req.payload,
        devaddr=devaddr,
    )
    uplink.update(req.overrides)
    return uplink


def targets(
    conns: ConnectionService, user: str, named: list[str] | None
) -> tuple[list[Connection], list[dict[str, str]]]:
    """The connections an uplink goes to, and the named ones skipped (inactive)."""
    if named is None:
        return [c for c in conns.list(user) if c.active], []
    chosen: list[Connection] = []
    skipped: list[dict[str, str]] = []
    for raw in named:
        cid = normalize_connection_id(raw)
        conn = conns.cache.get(cid or raw)
        if conn is None or conn.user != user:
            raise ApiProblem(400, f"unknown connection '{raw[:64]}' in field 'connections'")
        if conn in chosen:
            continue
        if conn.active:
            chosen.append(conn)
        else:
            skipped.append({"id": conn.id, "reason": "DEACTIVATED"})
    return chosen, skipped


def due_time(conn: Connection, now: float) -> float:
    """When a new message for ``conn`` is first tried: now, or its next reconnect while CLOSED."""
    if conn.state != CLOSED or conn.closed_at is None:
        return now
    probe = conn.extra.get("next_probe")
    if isinstance(probe, float) and probe > now:
        return min(probe, now + RETENTION)
    nxt = next_attempt(conn.configuration.get("reconnectStrategy", "NORMAL"), conn.closed_at, now)
    return nxt if nxt is not None else now + RETENTION


class UplinkIngress:
    """The uplink ingress backend: frame counters, the device's class-A downlinks, one delivery per
    connection, all in one transaction."""

    def __init__(self, emu: Emulator, connections: ConnectionService, downlinks: DownlinkService) -> None:
        self.emu = emu
        self.connections = connections
        self.downlinks = downlinks

    async def ingest(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store one uplink, queue it for its connections (and any downlink events); return the 202 body."""
        emu = self.emu
        req = parse_request(body)
        chosen, skipped = targets(self.connections, user, req.connections)
        uplink_id = f"{random.getrandbits(128):032x}"
        now = emu.clock.now()

        #: Deliveries due now, handed to the worker after the commit; ``later``: when the first of the others
        #: (waiting in the outbox) is due.
        ready: list[Delivery] = []
        later: float | None = None

        def wait(due: float) -> None:
            nonlocal later
            later = due if later is None else min(later, due)

        def write(c: sqlite3.Connection) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
            nonlocal later
            ready.clear()
            later = None
            row = c.execute(
                "SELECT fcnt_up, fcnt_dn, devaddr FROM iotflow_devices WHERE deveui = ?", (req.deveui,)
            ).fetchone()
            if row is None:
                fcnt_up, fcnt_dn, devaddr = 0, 0, devaddr_for(req.deveui)
            else:
                fcnt_up, fcnt_dn, devaddr = (
                    (row["fcnt_up"] + 1) % (MAX_FCNT + 1),
                    row["fcnt_dn"],
                    row["devaddr"],
                )
            if "FCntUp" in req.overrides:
                fcnt_up = int(req.overrides["FCntUp"])
            uplink = build_uplink(req, now=now, fcnt_up=fcnt_up, fcnt_dn=fcnt_dn, devaddr=devaddr)
            # Class A: the device's queued downlinks go out in the receive windows of this uplink.
            dl_events, dl_journal, fcnt_dn = self.downlinks.transmit(c, req.deveui, uplink, fcnt_dn, now)
            c.execute(
                "INSERT INTO iotflow_devices(deveui, fcnt_up, fcnt_dn, devaddr, last_uplink) VALUES (?,?,?,?,?) "
                "ON CONFLICT(deveui) DO UPDATE SET fcnt_up = excluded.fcnt_up, fcnt_dn = excluded.fcnt_dn, "
                "last_uplink = excluded.last_uplink",
                (req.deveui, fcnt_up, fcnt_dn, devaddr, now),
            )
            message = {"wrapper": "DevEUI_uplink", "body": uplink, "uplink": uplink_id}
            # Encoded once: the outbox rows of every connection, and the forwarded bodies, are spliced from it.
            body_json = compact_json(uplink) if chosen else ""
            message_json = f'{{"wrapper":"DevEUI_uplink","body":{body_json},"uplink":"{uplink_id}"}}'
            for conn in chosen:
                due = due_time(conn, now)
                did = enqueue(
                    c,
                    kind="uplink",
                    message=message,
                    now=now,
                    user=user,
                    device=req.deveui,
                    connection=conn.id,
                    due=due,
                    message_json=message_json,
                )
                if due <= now:
                    ready.append(
                        Delivery(
                            did,
                            "uplink",
                            PENDING,
                            message,
                            0,
                            due,
                            now,
                            user,
                            req.deveui,
                            None,
                            conn.id,
                            body_json=body_json,
                        )
                    )
                else:
                    wait(due)
            for cid, wrapper, inner in dl_events:
                target = self.connections.cache.get(cid)
                if target is None or not target.active:
                    continue
                if target.configuration.get("sendMetadata"):
                    # "Only uplink messages are received, downlink acknowledge are filtered" [source:
                    # About_connections.md, sendMetadata]: the report stays in the downlink journal only.
                    continue
                # The report follows the uplink: the downlink goes out in RX1, 1 s after it [source: LoRaWAN].
                report_due = due_time(target, now + RX1_DELAY)
                wait(report_due)
                enqueue(
                    c,
                    kind="downlink_event",
                    message={"wrapper": wrapper, "body": inner, "uplink": uplink_id},
                    now=now,
                    user=target.user,
                    device=req.deveui,
                    connection=cid,
                    due=report_due,
                )
            events = [
                emu.events.stage(
                    c,
                    "uplink.received",
                    {
                        "id": uplink_id,
                        "DevEUI": req.deveui,
                        "FPort": req.fport,
                        "FCntUp": fcnt_up,
                        "connections": [conn.id for conn in chosen],
                    },
                )
            ]
            events += [emu.events.stage(c, kind, data) for kind, data in dl_journal]
            return uplink, events, [{"id": d["id"], "status": d["status"]} for _k, d in dl_journal]

        uplink, events, downlinks = await emu.store.write(write)
        emu.events.publish(*events)
        if later is not None:
            emu.worker.note_pending(later)  # no rescan now: the worker wakes when the first one is due
        if ready:
            emu.worker.hand_off(ready)
        answer: dict[str, Any] = {
            "id": uplink_id,
            "FCntUp": uplink["FCntUp"],
            "connections": [conn.id for conn in chosen],
        }
        if skipped:
            answer["skipped"] = skipped
        if downlinks:
            answer["downlinks"] = downlinks
        return answer
