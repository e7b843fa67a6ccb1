"""Shared helpers of the reliability tests: state snapshots, seeded state, error bodies."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import httpx

from tests.harness import InProcessEmulator

USER = "local"
DEVEUI = "0024AEB3C02BE1C4"

#: Tables that change by design on every request (the journal) or by the clock.
SKIP_TABLES = {"events", "meta", "schema_versions", "sqlite_sequence"}
#: Columns that count traffic or use, not stored data.
VOLATILE = {"last_used"}
#: What an ingest call may change even when it stores nothing: the device's connection statistics.
CONNECTION_STATS = {
    "connected",
    "connected_ts",
    "disconnected_ts",
    "last_seen",
    "ip_address",
    "rx_bytes",
    "tx_bytes",
}


def snapshot(emu: InProcessEmulator, *, ignore: set[str] = frozenset()) -> dict[str, list[tuple[Any, ...]]]:  # type: ignore[assignment]
    """Every stored row of every table (but the event journal), to compare before and after a bad request."""
    skip = VOLATILE | set(ignore)

    def read(conn: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        out: dict[str, list[tuple[Any, ...]]] = {}
        for table in sorted(set(tables) - SKIP_TABLES):
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()
            out[table] = sorted(
                (tuple((k, r[k]) for k in r.keys() if k not in skip) for r in rows),  # noqa: SIM118 - sqlite3.Row
                key=repr,
            )
        return out

    result: dict[str, list[tuple[Any, ...]]] = emu.run(emu.emu.store.read(read))
    return result


def message_of(response: httpx.Response) -> str:
    """The error message, checking the body has its surface's shape."""
    body = response.json()
    if response.request.url.path.startswith("/iot-flow"):
        assert set(body) == {"code", "message"}, body
        assert isinstance(body["code"], str) and body["code"]
        return str(body["message"])
    assert set(body) == {"error"} and set(body["error"]) >= {"message"}, body
    return str(body["error"]["message"])


def expect_error(response: httpx.Response, status: int, *words: str) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    message = message_of(response)
    for word in words:
        assert word.lower() in message.lower(), (word, message)
    assert "Traceback" not in response.text
    return message


# --- seeded state --------------------------------------------------------------------------------


def seed_thinger(emu: InProcessEmulator) -> dict[str, str]:
    """A bucket, an HTTP device writing to it, a second device, a device token, one stored record."""
    h = emu.http
    r = h.post(
        f"/v1/users/{USER}/buckets",
        json={"bucket": "b1", "name": "B1", "enabled": True, "config": {"source": "write"}},
    )
    assert r.status_code == 200, r.text
    for dev in ("d1", "d2"):
        r = h.post(f"/v1/users/{USER}/devices", json={"device": dev, "type": "HTTP", "name": dev.upper()})
        assert r.status_code == 200, r.text
    r = h.put(f"/v3/users/{USER}/devices/d1/callback", json={"actions": {"write_bucket": "b1"}})
    assert r.status_code == 200, r.text
    r = h.post(f"/v1/users/{USER}/devices/d1/tokens", json={"token_name": "t1"})
    assert r.status_code == 200, r.text
    token = r.json()
    r = emu.anon(
        "POST",
        f"/v3/users/{USER}/devices/d1/callback/data",
        json={"temp": 21, "ts": 1_700_000_000_000},
        headers={"Authorization": f"Bearer {token['token']}"},
    )
    assert r.status_code == 200, r.text
    return {"device_token": token["token"], "device_token_id": token["id"]}


def seed_iotflow(emu: InProcessEmulator, destination: str, **config: Any) -> str:
    """One connection to ``destination`` and one uplink delivered through it; returns the connection id."""
    body = {
        "connectorId": "actility-http-iot",
        "name": "c1",
        "configuration": {"destinationURL": destination, **config},
    }
    r = emu.http.post("/iot-flow/v1/connections", json=body)
    assert r.status_code == 201, r.text
    cid = str(r.json()["id"])
    r = emu.http.post(
        "/_emulator/lorawan/uplinks", json={"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "00ff"}
    )
    assert r.status_code == 202, r.text
    emu.wait_idle()
    return cid


def raw_post(
    emu: InProcessEmulator, path: str, body: bytes, content_type: str = "application/json"
) -> httpx.Response:
    return emu.http.post(path, content=body, headers={"Content-Type": content_type})


def events_since(emu: InProcessEmulator, after: int) -> list[dict[str, Any]]:
    r = emu.http.get("/_emulator/events", params={"after": after, "limit": 1000})
    assert r.status_code == 200
    return list(r.json())


def last_event_id(emu: InProcessEmulator) -> int:
    events = emu.http.get("/_emulator/events", params={"limit": 1}).json()
    return int(events[-1]["id"]) if events else 0


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
