"""Header values and names in connection configuration (issue 11, item 4), and header masking in answers.

``$`` in a pattern matches before a final newline, so ``"v\\n"`` passed the old check and the forwarder
sent a bare LF; NUL and other control bytes went out raw and non-Latin-1 characters became ``?``.
"""

from __future__ import annotations

import pytest

from tests.harness import InProcessEmulator, Sink
from tests.reliability.support import DEVEUI, expect_error, snapshot

CONNECTIONS = "/iot-flow/v1/connections"


def body(headers: dict[str, str], destination: str = "http://127.0.0.1:9/x") -> dict[str, object]:
    return {
        "connectorId": "actility-http-iot",
        "name": "c1",
        "configuration": {"destinationURL": destination, "headers": headers},
    }


@pytest.mark.parametrize(
    ("headers", "word"),
    [
        pytest.param({"X-A": "v\n"}, "X-A", id="final-lf"),
        pytest.param({"X-A": "v\r"}, "X-A", id="final-cr"),
        pytest.param({"X-A": "a\x00b"}, "control", id="nul"),
        pytest.param({"X-A": "a\x1bb"}, "control", id="esc"),
        pytest.param({"X-A": "a\x7f"}, "control", id="del"),
        pytest.param({"X-A": "price \u20ac"}, "Latin-1", id="non-latin-1"),
        pytest.param({"X-A\n": "v"}, "header name", id="name-final-lf"),
        pytest.param({"X A": "v"}, "header name", id="name-space"),
    ],
)
def test_bad_header_values_and_names_are_400_at_configuration_time(
    emulator: InProcessEmulator, headers: dict[str, str], word: str
) -> None:
    before = snapshot(emulator)
    expect_error(emulator.http.post(CONNECTIONS, json=body(headers)), 400, word)
    assert snapshot(emulator) == before
    r = emulator.http.post(CONNECTIONS, json=body({"X-A": "ok\tvalue \u00e9"}))  # tab and Latin-1 pass
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    expect_error(emulator.http.put(f"{CONNECTIONS}/{cid}", json=body(headers)), 400, word)
    assert emulator.http.get(f"{CONNECTIONS}/{cid}").json()["configuration"]["headers"] == {
        "X-A": "ok\tvalue \u00e9"
    }


def test_a_template_rendering_a_non_latin_1_value_is_a_recorded_delivery_error(
    emulator: InProcessEmulator, sink: Sink
) -> None:
    r = emulator.http.post(CONNECTIONS, json=body({"X-Name": "{CustomerData.name}"}, sink.url))
    assert r.status_code == 201, r.text
    emulator.advance(1)
    up = {
        "DevEUI": DEVEUI,
        "FPort": 1,
        "payload_hex": "00",
        "DevEUI_uplink": {"CustomerData": {"name": "\u20ac"}},
    }
    assert emulator.http.post("/_emulator/lorawan/uplinks", json=up).status_code == 202
    emulator.wait_idle()
    deliveries = emulator.http.get("/_emulator/deliveries").json()
    assert [d["status"] for d in deliveries] == ["failed"], deliveries
    assert "X-Name" in deliveries[0]["reason"] and "Latin-1" in deliveries[0]["reason"]
    assert sink.requests == [] or all("?" not in (q.headers.get("x-name") or "") for q in sink.requests)
    assert emulator.http.get("/_emulator/health").status_code == 200


def test_connection_answers_mask_secret_header_values_and_put_keeps_them(emulator: InProcessEmulator) -> None:
    headers = {"Authorization": "Bearer s3cr3t-value", "X-Api-Key": "k3y-value", "X-Plain": "shown"}
    r = emulator.http.post(CONNECTIONS, json=body(headers))
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert r.json()["configuration"]["headers"] == headers  # the create answer echoes what its caller sent
    masked = {"Authorization": "*****", "X-Api-Key": "*****", "X-Plain": "shown"}
    assert emulator.http.get(f"{CONNECTIONS}/{cid}").json()["configuration"]["headers"] == masked
    assert emulator.http.get(CONNECTIONS).json()[0]["configuration"]["headers"] == masked
    r = emulator.http.put(f"{CONNECTIONS}/{cid}", json=body({"Authorization": "*****", "X-Api-Key": "*****"}))
    assert r.status_code == 200, r.text
    stored = emulator.emu.services["iotflow"].connections.cache[cid].configuration["headers"]
    assert stored == {"Authorization": "Bearer s3cr3t-value", "X-Api-Key": "k3y-value"}
    expect_error(emulator.http.put(f"{CONNECTIONS}/{cid}", json=body({"X-Token": "*****"})), 400, "X-Token")
