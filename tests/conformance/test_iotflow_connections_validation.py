"""Connection bodies validated as the real, Jackson-based server does: coercion, unknown keys, 400s.

Sources (actility/tpx-iot-flow-doc): the connector schemas' ``urn:jsonschema:com:actility:tpx:...`` ids
(Jackson's JSON Schema module) in
docs/Getting_Started/Setting_Up_A_Connection_instance/Creating_a_connection_instance_using_the_API.md;
``"downlinkPort": "1"`` in docs/Connector/HTTP/README.md; the parameters of About_connections.md.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from tests.harness import EmulatorProcess, InProcessEmulator
from tests.reliability.support import snapshot

BASE = "/iot-flow/v1"


def body(top: dict[str, Any] | None = None, **config: Any) -> dict[str, Any]:
    return {
        "connectorId": "actility-http-iot",
        "name": "coerced",
        **(top or {}),
        "configuration": {"destinationURL": "http://127.0.0.1:9/x", **config},
    }


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ({"downlinkPort": "1"}, {"downlinkPort": 1}),
        ({"downlinkPort": " 7 "}, {"downlinkPort": 7}),
        ({"downlinkPort": 3.9}, {"downlinkPort": 3}),  # ACCEPT_FLOAT_AS_INT truncates
        ({"blamePeriod": "60"}, {"blamePeriod": 60}),
        ({"strictMode": "true"}, {"strictMode": True}),
        ({"strictMode": "FALSE"}, {"strictMode": False}),
        ({"strictMode": 1}, {"strictMode": True}),
        ({"sendMetadata": 0}, {"sendMetadata": False}),
        ({"downlinkEnabled": "False"}, {"downlinkEnabled": False}),
        ({"downlinkPort": ""}, {}),  # "" reads as null: not given
        ({"downlinkAsId": 1234}, {"downlinkAsId": "1234"}),  # scalars become text
        ({"headers": {"X-N": 5, "X-B": True}}, {"headers": {"X-N": "5", "X-B": "true"}}),
        ({"description": None}, {}),
    ],
)
def test_coercible_values_are_stored_coerced(
    emulator: InProcessEmulator, given: dict[str, Any], stored: dict[str, Any]
) -> None:
    r = emulator.http.post(f"{BASE}/connections", json=body(**given))
    assert r.status_code == 201, r.text
    cfg = r.json()["configuration"]
    for key, value in stored.items():
        assert cfg[key] == value and type(cfg[key]) is type(value), key
    for key in set(given) - set(stored):
        assert key not in cfg or cfg[key] in (30, True, False), key  # absent, or the default
    assert "warning" not in r.headers


def test_top_level_scalars_are_coerced_too(emulator: InProcessEmulator) -> None:
    r = emulator.http.post(f"{BASE}/connections", json=body({"name": 42, "active": "false"}))
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "42" and r.json()["active"] is False and r.json()["state"] == "DEACTIVATED"


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"downlinkPort": "1.5"}, "configuration.downlinkPort"),
        ({"downlinkPort": True}, "configuration.downlinkPort"),
        ({"downlinkPort": "0x10"}, "configuration.downlinkPort"),
        ({"downlinkPort": 99999999999}, "configuration.downlinkPort"),
        ({"downlinkPort": 300}, "configuration.downlinkPort"),
        ({"strictMode": "yes"}, "configuration.strictMode"),
        ({"strictMode": 1.0}, "configuration.strictMode"),
        ({"strictMode": []}, "configuration.strictMode"),
        ({"description": {"a": 1}}, "configuration.description"),
        ({"headers": ["a"]}, "configuration.headers"),
        ({"headers": {"X": None}}, "configuration.headers.X"),
        ({"proxy": "h:1"}, "configuration.proxy"),
        ({"reconnectStrategy": "normal"}, "configuration.reconnectStrategy"),
        ({"tiak": "not-hex"}, "configuration.tiak"),
    ],
)
def test_values_jackson_cannot_coerce_are_400_naming_the_field_and_change_nothing(
    emulator: InProcessEmulator, given: dict[str, Any], named: str
) -> None:
    cid = emulator.http.post(f"{BASE}/connections", json=body()).json()["id"]
    emulator.advance(1)  # past its start, so only a bad request could change what is stored
    deadline = time.monotonic() + 5
    while emulator.http.get(f"{BASE}/connections/{cid}").json()["state"] != "OPENED":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    before = snapshot(emulator)
    r = emulator.http.post(f"{BASE}/connections", json=body(**given))
    assert r.status_code == 400, r.text
    assert named in r.json()["message"] and set(r.json()) == {"code", "message"}
    r = emulator.http.put(f"{BASE}/connections/{cid}", json=body(**given))
    assert r.status_code == 400 and named in r.json()["message"]
    assert snapshot(emulator) == before


def test_unknown_keys_are_stored_echoed_and_warned(
    emulator: InProcessEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    given = body({"colour": "red"}, strictmode=True, proxy={"hostname": "p:1", "port": 3128})
    with caplog.at_level(logging.WARNING, logger="iotcli.emulator"):
        r = emulator.http.post(f"{BASE}/connections", json=given)
    assert r.status_code == 201, r.text
    data = r.json()
    keys = ["colour", "configuration.strictmode", "configuration.proxy.port"]
    # echoed, like the real server
    assert data["colour"] == "red" and data["configuration"]["strictmode"] is True
    assert data["configuration"]["proxy"]["port"] == 3128
    assert data["configuration"]["strictMode"] is False  # the documented key keeps its default
    # stored (a later read shows them)
    shown = emulator.http.get(f"{BASE}/connections/{data['id']}").json()
    assert shown["colour"] == "red" and shown["configuration"]["strictmode"] is True
    # warned: Warning headers, the event journal, the emulator's log
    for key in keys:
        assert repr(key) in r.headers["warning"]
    (event,) = emulator.http.get("/_emulator/events", params={"kind": "connection.unknown_keys"}).json()
    assert event["keys"] == keys and event["connection"] == data["id"]
    assert any("configuration.strictmode" in rec.getMessage() for rec in caplog.records)
    # a PUT sending them back warns again and keeps them
    r = emulator.http.put(f"{BASE}/connections/{data['id']}", json=shown)
    assert r.status_code == 200 and "colour" in r.headers["warning"] and r.json()["colour"] == "red"


def test_read_only_fields_are_ignored_without_warning(emulator: InProcessEmulator) -> None:
    created = emulator.http.post(f"{BASE}/connections", json=body()).json()
    r = emulator.http.put(f"{BASE}/connections/{created['id']}", json=created)
    assert r.status_code == 200 and "warning" not in r.headers
    assert r.json()["downlinkUrl"] == created["downlinkUrl"]


def test_a_real_emulator_process_logs_the_unknown_keys(tmp_path: Path) -> None:
    """``iotcli emulate`` (a real process): the warning reaches its stderr, once per connection write."""
    proc = EmulatorProcess(tmp_path).start()
    try:
        with proc.client() as client:
            r = client.post(f"{BASE}/connections", json=body(colour="red"))
            assert r.status_code == 201 and "configuration.colour" in r.headers["warning"]
    finally:
        proc.stop()
    _out, err = proc.output()
    assert [line for line in err.splitlines() if "configuration.colour" in line] == [
        "connection 1 (coerced): no document knows 'configuration.colour': stored and echoed as given"
    ]


def test_many_unknown_keys_are_all_stored_but_the_warning_stays_short(emulator: InProcessEmulator) -> None:
    junk = {f"k{i:03}" + "x" * 200: i for i in range(300)}
    r = emulator.http.post(f"{BASE}/connections", json=body(**junk))
    assert r.status_code == 201, r.text
    stored = emulator.emu.services["iotflow"].connections.cache[r.json()["id"]].configuration
    assert all(stored[k] == v for k, v in junk.items())
    assert len(r.headers["warning"]) < 8000 and "280 more unknown keys" in r.headers["warning"]
    (event,) = emulator.http.get("/_emulator/events", params={"kind": "connection.unknown_keys"}).json()
    assert event["count"] == 300 and len(event["keys"]) == 20 and event["keys"][0].endswith("...")
