"""Uplink ingress: validation, the generated DevEUI_uplink, counters, routing, answer before delivery."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from iotcli.emulator.settings import EmulatorSettings
from tests.emulator.iotflow_support import DEVEUI, connect, deliveries, events, uplink
from tests.harness import TEST_TOKEN, InProcessEmulator, Reply, Sink

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "iotflow"


def test_generated_uplink_has_the_fields_of_a_real_one(emulator: InProcessEmulator, sink: Sink) -> None:
    connect(emulator, sink.url + "/up")
    answer = uplink(emulator, payload_hex="0520BE88")
    assert answer["FCntUp"] == 0 and len(answer["connections"]) == 1 and answer["id"]
    (req,) = sink.wait_for(1)
    body = req.json()["DevEUI_uplink"]
    reference_file = REFERENCE / "DevEUI_uplink.2.json"
    if reference_file.exists():
        reference = json.loads(reference_file.read_text())["DevEUI_uplink"]
        missing = set(reference) - set(body) - {"payloadDecodedError", "DriverCfg"}
        assert not missing, missing
    for key in (
        "Time",
        "DevEUI",
        "FPort",
        "FCntUp",
        "FCntDn",
        "payload_hex",
        "Lrrid",
        "LrrRSSI",
        "LrrSNR",
        "SpFact",
        "SubBand",
        "Channel",
        "Lrcid",
        "CustomerID",
        "CustomerData",
        "DevAddr",
        "downlinkUrl",
    ):
        assert key in body
    assert body["payload_hex"] == "0520be88" and body["DevEUI"] == DEVEUI and body["FPort"] == 1
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$", body["Time"])
    assert isinstance(body["LrrRSSI"], float) and body["Lrrs"]["Lrr"][0]["Lrrid"] == body["Lrrid"]
    assert re.match(r"^[0-9A-F]{8}$", body["DevAddr"])
    assert "payload" not in body


def test_fcntup_counts_per_device_and_persists(tmp_path: Path) -> None:
    settings = EmulatorSettings(data_dir=tmp_path, token=TEST_TOKEN)
    with InProcessEmulator(settings) as emu:
        assert [uplink(emu)["FCntUp"] for _ in range(3)] == [0, 1, 2]
        assert uplink(emu, deveui="70B3D531C00027C8")["FCntUp"] == 0
    with InProcessEmulator(settings) as emu:
        assert uplink(emu)["FCntUp"] == 3


def test_decoded_payload_and_overrides(emulator: InProcessEmulator, sink: Sink) -> None:
    connect(emulator, sink.url)
    uplink(
        emulator,
        deveui="70-B3-D5-31-C0-00-27-C8",
        payload={"temperature": 24.8},
        DevEUI_uplink={"LrrRSSI": -52.0, "CustomerData": {"name": "Bob"}, "FCntUp": 80},
    )
    body = sink.wait_for(1)[0].json()["DevEUI_uplink"]
    assert body["DevEUI"] == "70B3D531C00027C8" and body["payload"] == {"temperature": 24.8}
    assert body["LrrRSSI"] == -52.0 and body["CustomerData"] == {"name": "Bob"} and body["FCntUp"] == 80
    # The counter follows an override, and wraps like a 32-bit LoRaWAN counter.
    assert uplink(emulator, deveui="70B3D531C00027C8")["FCntUp"] == 81
    assert (
        uplink(emulator, deveui="70B3D531C00027C8", DevEUI_uplink={"FCntUp": 2**32 - 1})["FCntUp"]
        == 2**32 - 1
    )
    assert uplink(emulator, deveui="70B3D531C00027C8")["FCntUp"] == 0
    # An override may repeat the device's DevEUI, in any accepted spelling.
    fcnt = uplink(emulator, deveui="70B3D531C00027C8", DevEUI_uplink={"DevEUI": "70-b3-d5-31-c0-00-27-c8"})[
        "FCntUp"
    ]
    (last,) = [
        r.json()["DevEUI_uplink"] for r in sink.wait_for(5) if r.json()["DevEUI_uplink"]["FCntUp"] == fcnt
    ]
    assert last["DevEUI"] == "70B3D531C00027C8"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"FPort": 1, "payload_hex": "00"}, "DevEUI"),
        ({"DevEUI": "0018B2", "FPort": 1, "payload_hex": "00"}, "DevEUI"),
        ({"DevEUI": DEVEUI, "payload_hex": "00"}, "FPort"),
        ({"DevEUI": DEVEUI, "FPort": 0, "payload_hex": "00"}, "FPort"),
        ({"DevEUI": DEVEUI, "FPort": 300, "payload_hex": "00"}, "FPort"),
        ({"DevEUI": DEVEUI, "FPort": "x", "payload_hex": "00"}, "FPort"),
        ({"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "0g"}, "payload_hex"),
        ({"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "123"}, "payload_hex"),
        ({"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "00" * 243}, "payload_hex"),
        ({"DevEUI": DEVEUI, "FPort": 1}, "payload_hex"),
        ({"DevEUI": DEVEUI, "FPort": 1, "payload": [1]}, "payload"),
        ({"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "00", "connections": ["nope"]}, "nope"),
        ({"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "00", "connections": []}, "connections"),
        ({"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "00", "DevEUI_uplink": 3}, "DevEUI_uplink"),
        ({"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "00", "colour": 3}, "colour"),
        ({"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "00", "DevEUI_uplink": {"FCntUp": 2**70}}, "FCntUp"),
        ({"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "00", "DevEUI_uplink": {"FCntUp": -1}}, "FCntUp"),
        # The device is the top-level DevEUI: an override may repeat it, not name another (or a non-string).
        (
            {"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "00", "DevEUI_uplink": {"DevEUI": {}}},
            "DevEUI_uplink.DevEUI",
        ),
        (
            {
                "DevEUI": DEVEUI,
                "FPort": 1,
                "payload_hex": "00",
                "DevEUI_uplink": {"DevEUI": "70B3D531C00027C8"},
            },
            "DevEUI_uplink.DevEUI",
        ),
    ],
)
def test_invalid_uplinks_are_400_naming_the_field(
    emulator: InProcessEmulator, body: dict[str, Any], field: str
) -> None:
    r = emulator.http.post("/_emulator/lorawan/uplinks", json=body)
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]["message"]


def test_uplink_needs_the_account_token(emulator: InProcessEmulator) -> None:
    r = emulator.anon(
        "POST", "/_emulator/lorawan/uplinks", json={"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "00"}
    )
    assert r.status_code == 401


def test_routing_to_named_or_all_active_connections(emulator: InProcessEmulator) -> None:
    with Sink() as a, Sink() as b, Sink() as off:
        ca, cb = connect(emulator, a.url, "a"), connect(emulator, b.url, "b")
        coff = connect(emulator, off.url, "off", active=False)
        answer = uplink(emulator)
        assert sorted(answer["connections"]) == sorted([ca, cb])
        answer = uplink(emulator, connections=[cb, coff])
        assert answer["connections"] == [cb] and answer["skipped"] == [{"id": coff, "reason": "DEACTIVATED"}]
        a.wait_for(1)
        b.wait_for(2)
        emulator.wait_idle()
        assert len(a.requests) == 1 and len(b.requests) == 2 and off.requests == []
    received = events(emulator, "uplink.received")
    assert [e["FCntUp"] for e in received] == [0, 1] and received[1]["connections"] == [cb]


def test_ingress_answers_without_waiting_for_the_destination(emulator: InProcessEmulator) -> None:
    import time

    with Sink(default=Reply(200, delay=1.0)) as slow:
        connect(emulator, slow.url)
        start = time.monotonic()
        for _ in range(5):
            uplink(emulator)
        assert time.monotonic() - start < 0.8
        assert len(deliveries(emulator)) == 5
        slow.wait_for(5)


def test_one_delivery_per_connection_is_queued_with_the_uplink(emulator: InProcessEmulator) -> None:
    # Destinations that never answer in time: the deliveries exist as soon as the uplink is accepted.
    c1 = connect(emulator, "http://127.0.0.1:9/a", "a")
    c2 = connect(emulator, "http://127.0.0.1:9/b", "b")
    uplink(emulator)
    rows = deliveries(emulator, kind="uplink")
    assert sorted(r["connection"] for r in rows) == sorted([c1, c2])
    assert all(r["device"] == DEVEUI for r in rows)
