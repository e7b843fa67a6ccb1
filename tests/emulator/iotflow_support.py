"""Helpers for the IoT Flow tests: connections, uplinks and journal reads against an in-process emulator."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tests.harness import InProcessEmulator

DEVEUI = "0018B20000000B20"


def connect(emu: InProcessEmulator, url: str, name: str = "app", active: bool = True, **config: Any) -> str:
    body = {
        "connectorId": "actility-http-iot",
        "name": name,
        "active": active,
        "configuration": {"destinationURL": url, **config},
    }
    r = emu.http.post("/iot-flow/v1/connections", json=body)
    assert r.status_code == 201, r.text
    created = r.json()
    DOWNLINK_PATHS[str(created["id"])] = urlsplit(created["downlinkUrl"]).path
    return str(created["id"])


#: Connection id -> the path of its downlinkUrl, for the connections ``connect`` made last (ids start
#: again at "1" in every emulator; a test's own connections are the latest ones).
DOWNLINK_PATHS: dict[str, str] = {}


def downlink_path(cid: str) -> str:
    """``/iot-flow/downlinkMessages/<uuid>`` of a connection made by ``connect`` (a UUID: as given)."""
    if cid in DOWNLINK_PATHS:
        return DOWNLINK_PATHS[cid]
    return f"/iot-flow/downlinkMessages/{cid}"


def uplink(
    emu: InProcessEmulator, deveui: str = DEVEUI, fport: int = 1, payload_hex: str = "0102", **extra: Any
) -> dict[str, Any]:
    r = emu.http.post(
        "/_emulator/lorawan/uplinks",
        json={"DevEUI": deveui, "FPort": fport, "payload_hex": payload_hex, **extra},
    )
    assert r.status_code == 202, r.text
    return r.json()  # type: ignore[no-any-return]


def deliveries(emu: InProcessEmulator, **query: str) -> list[dict[str, Any]]:
    r = emu.http.get("/_emulator/deliveries", params=query)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def delivery(emu: InProcessEmulator, did: str) -> dict[str, Any]:
    r = emu.http.get(f"/_emulator/deliveries/{did}")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def state(emu: InProcessEmulator, cid: str) -> str:
    return str(emu.http.get(f"/iot-flow/v1/connections/{cid}").json()["state"])


def events(emu: InProcessEmulator, kind: str) -> list[dict[str, Any]]:
    return emu.http.get("/_emulator/events", params={"kind": kind, "limit": 1000}).json()  # type: ignore[no-any-return]
