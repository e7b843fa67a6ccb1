"""Thinger's own HTTP-device plugin, replayed against the emulator.

Source: thinger-io/plugins, ``http-device/task/app.js`` (``handleDeviceRequest``: ``ts = req.query.ts || 0``,
auto-provisioning on 404) and ``http-device/task/api/api.js`` (the requests: axios with
``Authorization: Bearer <token>``, ``Content-Type: application/json``, ``params: {ts, ip}``,
``data: JSON.stringify(payload)``). Every answer field the plugin reads is checked: ``status`` (404
triggers provisioning), and ``data`` (the callback answer it hands back to the device).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.harness import InProcessEmulator

USER = "local"
DEVICE = "sensor_7"  # the plugin's device ids: [0-9a-zA-Z_]+
BUCKET = "sensor_7"  # getBucketId without a prefix: the device id


def plugin(
    emu: InProcessEmulator, method: str, url: str, *, data: Any = None, params: Any = None
) -> httpx.Response:
    """One axios request of api.js: bearer token, JSON content type, the body already a JSON string."""
    headers = {"Authorization": f"Bearer {emu.token}", "Content-Type": "application/json"}
    content = json.dumps(data) if data is not None else None
    return emu.anon(method, url, headers=headers, content=content, params=params)


def call_device_callback(
    emu: InProcessEmulator, payload: Any, source_ip: str, timestamp: Any
) -> httpx.Response:
    """api.js ``callDeviceCallback``: POST with a payload (GET without), ``params: {ts, ip}``."""
    method = "POST" if payload is not None else "GET"
    return plugin(
        emu,
        method,
        f"/v3/users/{USER}/devices/{DEVICE}/callback/data",
        data=payload,
        params={"ts": timestamp, "ip": source_ip},
    )


def provision(emu: InProcessEmulator, device_response: Any) -> None:
    """app.js auto-provisioning after a 404: device, bucket, response property, callback."""
    r = plugin(
        emu,
        "POST",
        f"/v1/users/{USER}/devices",
        data={
            "device": DEVICE,
            "name": DEVICE,
            "type": "HTTP",
            "description": "Auto provisioned HTTP Device",
        },
    )
    assert r.status_code == 200, r.text
    r = plugin(
        emu,
        "POST",
        f"/v1/users/{USER}/buckets",
        data={
            "bucket": BUCKET,
            "name": DEVICE,
            "description": "Auto provisioned HTTP Bucket",
            "enabled": True,
            "config": {"source": "api"},
        },
    )
    assert r.status_code == 200, r.text
    # setDeviceProperty -> setDeviceProperties: POST {property, value}
    r = plugin(
        emu,
        "POST",
        f"/v3/users/{USER}/devices/{DEVICE}/properties",
        data={"property": "device_response", "value": device_response},
    )
    assert r.status_code == 200, r.text
    r = plugin(
        emu,
        "PUT",
        f"/v3/users/{USER}/devices/{DEVICE}/callback",
        data={
            "actions": {"write_bucket": BUCKET, "send_property": "device_response"},
            "properties": {"timeout": 10},
        },
    )
    assert r.status_code == 200, r.text


def test_reading_without_timestamp_auto_provisions_and_is_stored_now(emulator: InProcessEmulator) -> None:
    """A device posts to the plugin without ``?ts``: the plugin forwards ``ts=0``."""
    payload = {"temperature": 21.5, "humidity": 40}
    r = call_device_callback(emulator, payload, "192.168.1.20", 0)
    assert r.status_code == 404  # the plugin provisions on exactly this status
    # settings.device_response_data defaults to '""': getDefaultResponse -> "".
    provision(emulator, "")
    before = emulator.http.get("/_emulator/clock").json()["now_ms"]
    r = call_device_callback(emulator, payload, "192.168.1.20", 0)
    assert r.status_code == 200
    assert r.json() == ""  # response.data: falsy, so the plugin answers sendStatus(200)
    assert "X-Iotcli-Not-Stored" not in r.headers
    rows = emulator.http.get(f"/v1/users/{USER}/buckets/{BUCKET}/data").json()
    assert len(rows) == 1 and rows[0]["val"] == payload
    assert before <= rows[0]["ts"] <= before + 60_000  # "now", not 1970
    stats = emulator.http.get(f"/v1/users/{USER}/devices/{DEVICE}/stats").json()
    assert stats["connected"] is True and stats["ip_address"] == "192.168.1.20"


def test_readings_in_a_burst_are_all_kept_and_device_timestamps_are_used(emulator: InProcessEmulator) -> None:
    provision(emulator, {"interval": 60})
    for i in range(20):  # faster than a millisecond apart: the server assigns distinct times
        r = call_device_callback(emulator, {"n": i}, "10.0.0.1", 0)
        assert r.status_code == 200 and r.json() == {"interval": 60}  # response.data goes to the device
    r = call_device_callback(emulator, {"n": 99}, "10.0.0.1", 1_767_225_600_000)  # req.query.ts passed on
    assert r.status_code == 200
    rows = emulator.http.get(
        f"/v1/users/{USER}/buckets/{BUCKET}/data", params={"items": 100, "sort": "asc"}
    ).json()
    assert len(rows) == 21
    assert rows[0] == {"ts": 1_767_225_600_000, "val": {"n": 99}}
    assert [r["val"]["n"] for r in rows[1:]] == list(range(20))


def test_device_polls_without_payload(emulator: InProcessEmulator) -> None:
    """callDeviceCallback with ``payload === undefined``: GET, same params; nothing is ingested."""
    provision(emulator, {"led": "on"})
    r = call_device_callback(emulator, None, "10.0.0.2", 0)
    assert r.status_code == 200 and r.json() == {"led": "on"}
    assert emulator.http.get(f"/v1/users/{USER}/buckets/{BUCKET}/data").json() == []


def test_text_payload_is_answered_but_not_stored(emulator: InProcessEmulator) -> None:
    """express.text() hands the plugin a string; JSON.stringify makes it a JSON string: 200, not stored."""
    provision(emulator, {"led": "off"})
    r = call_device_callback(emulator, "temp=21", "10.0.0.3", 0)
    assert r.status_code == 200 and r.json() == {"led": "off"}
    assert "not a JSON object" in r.headers["X-Iotcli-Not-Stored"]
    assert emulator.http.get(f"/v1/users/{USER}/buckets/{BUCKET}/data").json() == []
