"""Connection states and their life cycle, on the emulator clock.

Source: actility/tpx-iot-flow-doc docs/Getting_Started/Setting_Up_A_Connection_instance/About_connections.md
("Connection states": OPENING, OPENED, CLOSED, AUTHENTICATING, AUTHENTICATION_FAILED, UNREACHABLE,
DEACTIVATED; "When you start a connection, the connection can remain on CLOSED state during a short period
before changing to OPENING") and docs/Connector/HTTP/README.md ("If the application server is not
reachable, the connection is CLOSED and the connection retry strategy is applied").
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from iotcli.emulator.settings import EmulatorSettings
from tests.emulator.iotflow_support import connect, deliveries, events, state, uplink
from tests.harness import TEST_TOKEN, InProcessEmulator, Sink, free_port

BASE = "/iot-flow/v1"


def wait_state(emu: InProcessEmulator, cid: str, wanted: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while state(emu, cid) != wanted and time.monotonic() < deadline:
        time.sleep(0.01)
    assert state(emu, cid) == wanted


def changes(emu: InProcessEmulator, cid: str) -> list[tuple[str, str]]:
    return [(e["previous"], e["state"]) for e in events(emu, "connection.state") if e["connection"] == cid]


def test_a_new_connection_goes_closed_opening_opened_on_the_emulator_clock(
    emulator: InProcessEmulator, sink: Sink
) -> None:
    cid = connect(emulator, sink.url)
    assert state(emulator, cid) == "CLOSED"
    (created,) = events(emulator, "connection.created")
    assert created["state"] == "CLOSED"
    emulator.advance(0.5)
    wait_state(emulator, cid, "OPENING")
    emulator.advance(0.5)
    wait_state(emulator, cid, "OPENED")
    assert changes(emulator, cid) == [("CLOSED", "OPENING"), ("OPENING", "OPENED")]


def test_an_uplink_due_while_starting_opens_it_at_once(emulator: InProcessEmulator, sink: Sink) -> None:
    cid = connect(emulator, sink.url)
    uplink(emulator)
    assert len(sink.wait_for(1)) == 1
    wait_state(emulator, cid, "OPENED")
    assert changes(emulator, cid) == [("CLOSED", "OPENING"), ("OPENING", "OPENED")]
    assert deliveries(emulator, connection=cid)[0]["status"] == "delivered"


def test_deactivate_and_reactivate(emulator: InProcessEmulator, sink: Sink) -> None:
    cid = connect(emulator, sink.url)
    emulator.advance(1)
    wait_state(emulator, cid, "OPENED")
    body = emulator.http.get(f"{BASE}/connections/{cid}").json()
    r = emulator.http.put(f"{BASE}/connections/{cid}", json={**body, "active": False})
    assert r.status_code == 200 and r.json()["state"] == "DEACTIVATED"
    r = emulator.http.put(f"{BASE}/connections/{cid}", json={**body, "active": True})
    assert r.json()["state"] == "CLOSED"
    emulator.advance(1)
    wait_state(emulator, cid, "OPENED")
    assert changes(emulator, cid) == [
        ("CLOSED", "OPENING"),
        ("OPENING", "OPENED"),
        ("OPENED", "DEACTIVATED"),
        ("DEACTIVATED", "CLOSED"),
        ("CLOSED", "OPENING"),
        ("OPENING", "OPENED"),
    ]


def test_created_inactive_is_deactivated_and_never_starts(emulator: InProcessEmulator, sink: Sink) -> None:
    cid = connect(emulator, sink.url, active=False)
    assert state(emulator, cid) == "DEACTIVATED"
    emulator.advance(5)
    time.sleep(0.05)
    assert state(emulator, cid) == "DEACTIVATED" and changes(emulator, cid) == []


def test_unreachable_destination_closes_and_reconnects_on_its_strategy(
    fast_emulator: InProcessEmulator,
) -> None:
    port = free_port()
    cid = connect(fast_emulator, f"http://127.0.0.1:{port}/up", reconnectStrategy="AGGRESSIVE")
    uplink(fast_emulator)
    deadline = time.monotonic() + 5
    while ("OPENED", "CLOSED") not in changes(fast_emulator, cid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert state(fast_emulator, cid) == "CLOSED"
    closing = [e for e in events(fast_emulator, "connection.state") if e["state"] == "CLOSED"][-1]
    assert "unreachable" in closing["reason"]
    with Sink(port=port) as sink:
        fast_emulator.advance(180)  # AGGRESSIVE: every 3 min
        assert len(sink.wait_for(1)) == 1
        wait_state(fast_emulator, cid, "OPENED")
    assert changes(fast_emulator, cid)[-3:] == [
        ("OPENED", "CLOSED"),
        ("CLOSED", "OPENING"),
        ("OPENING", "OPENED"),
    ]


def test_connections_of_an_earlier_version_keep_their_id_and_downlink_url(tmp_path: Path) -> None:
    """Migration: a stored connection with a 32-hex id and state OPEN (the earlier version's forms)."""
    old_id = "8c0d6e5a3f2b4c1d9e8f7a6b5c4d3e2f"
    _store_of_the_earlier_version(tmp_path / "emulator.db", old_id)
    settings = EmulatorSettings(data_dir=tmp_path, token=TEST_TOKEN)
    with InProcessEmulator(settings) as emu:
        data = emu.http.get(f"{BASE}/connections/{old_id}").json()
        assert data["id"] == old_id and data["state"] == "OPENED"
        dashed = "8c0d6e5a-3f2b-4c1d-9e8f-7a6b5c4d3e2f"
        assert urlsplit(data["downlinkUrl"]).path == f"/iot-flow/downlinkMessages/{dashed}"
        assert emu.http.get(f"{BASE}/connections/{dashed}").json()["id"] == old_id
        body = {"DevEUI_downlink": {"DevEUI": "0018B20000000B20", "FPort": 2, "payload_hex": "01"}}
        assert emu.anon("POST", f"/iot-flow/downlinkMessages/{dashed}", json=body).status_code == 202
        # New connections get the documented id form; the old one keeps working beside them.
        r = emu.http.post(f"{BASE}/connections", json={"connectorId": "actility-http-iot", "name": "new",
                                                      "configuration": {"destinationURL": "http://127.0.0.1:9/x"}})  # fmt: skip
        assert r.json()["id"] == "1"


def _store_of_the_earlier_version(path: Path, old_id: str) -> None:
    """The database as the earlier version left it: the first iotflow migration only, one connection."""
    from iotcli.emulator.app import migrations
    from iotcli.store.db import apply_migrations

    db = sqlite3.connect(path, isolation_level=None)
    apply_migrations(
        db, [(domain, stmts[:1] if domain == "iotflow" else stmts) for domain, stmts in migrations()]
    )
    row: dict[str, Any] = {
        "id": old_id, "user": "local", "connector_id": "actility-http-iot", "name": "old", "active": 1,
        "alarms": None, "configuration": '{"destinationURL": "http://127.0.0.1:9/x", "headers": {}}',
        "state": "OPEN", "state_reason": None, "closed_at": None, "startup_time": 0, "created": 0,
        "modified": 0,
    }  # fmt: skip
    db.execute(
        f"INSERT INTO iotflow_connections({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
        tuple(row.values()),
    )
    db.close()
