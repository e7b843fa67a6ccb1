"""The bad-input matrix (docs/reference/bad-input.md): one test per row.

Each row sends a bad request to each surface it applies to and checks the status and message the contract
gives, in the surface's error shape, and that nothing already stored changed (every table is read before
and after, the event journal aside).
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from iotcli.emulator.settings import EmulatorSettings
from tests.harness import TEST_TOKEN, TEST_USER, InProcessEmulator, Sink
from tests.reliability.support import (
    CONNECTION_STATS,
    DEVEUI,
    USER,
    events_since,
    expect_error,
    last_event_id,
    raw_post,
    seed_iotflow,
    seed_thinger,
    snapshot,
)

DEVICES = f"/v1/users/{USER}/devices"
CONNECTIONS = "/iot-flow/v1/connections"
ADVANCE = "/_emulator/clock/advance"
UPLINKS = "/_emulator/lorawan/uplinks"
INGEST = f"/v3/users/{USER}/devices/d1/callback/data"
MAX_BODY = 4096
#: 2,000 levels of arrays: valid JSON, deeper than the parser goes, smaller than MAX_BODY.
DEEP = b"[" * 2000 + b"]" * 2000


@pytest.fixture
def emu() -> Iterator[InProcessEmulator]:
    """In memory, with a small --max-body so the huge-body rows stay cheap."""
    settings = EmulatorSettings(
        data_dir=None, token=TEST_TOKEN, user=TEST_USER, max_body=MAX_BODY, time_scale=0.01
    )
    with InProcessEmulator(settings) as e:
        yield e


@pytest.fixture
def device(emu: InProcessEmulator) -> str:
    r = emu.http.post(DEVICES, json={"device": "d1", "type": "HTTP", "name": "one"})
    assert r.status_code == 200, r.text
    return "d1"


@pytest.fixture
def connection(emu: InProcessEmulator, sink: Sink) -> str:
    r = emu.http.post(
        CONNECTIONS,
        json={
            "connectorId": "actility-http-iot",
            "name": "c1",
            "configuration": {"destinationURL": sink.url, "downlinkAsId": "as1", "downlinkAsKey": "k" * 32},
        },
    )
    assert r.status_code == 201, r.text
    cid = str(r.json()["id"])
    # Past its start (CLOSED -> OPENING -> OPENED), so no state change lands between two snapshots.
    emu.advance(1)
    deadline = time.monotonic() + 5
    while emu.http.get(f"{CONNECTIONS}/{cid}").json()["state"] != "OPENED" and time.monotonic() < deadline:
        time.sleep(0.01)
    return cid


def downlink_path(emu: InProcessEmulator, cid: str) -> str:
    """The path of a connection's downlinkUrl (its downlink UUID is not its id)."""
    return urlsplit(emu.http.get(f"{CONNECTIONS}/{cid}").json()["downlinkUrl"]).path


def connection_body(destination: str = "http://127.0.0.1:9/x", **config: object) -> dict[str, object]:
    return {
        "connectorId": "actility-http-iot",
        "name": "c2",
        "configuration": {"destinationURL": destination, **config},
    }


# One target per surface that takes a JSON body, with the state it needs.
JSON_TARGETS = [
    pytest.param(DEVICES, id="thinger"),
    pytest.param(CONNECTIONS, id="iotflow"),
    pytest.param(ADVANCE, id="emulator"),
]


@pytest.fixture
def seeded(emu: InProcessEmulator, device: str, connection: str) -> None:
    """Something stored on both surfaces, so 'nothing changes' means something."""


# --- body encoding rows --------------------------------------------------------------------------


@pytest.mark.parametrize("path", JSON_TARGETS)
def test_malformed_json(emu: InProcessEmulator, seeded: None, path: str) -> None:
    before = snapshot(emu)
    r = raw_post(emu, path, b'{"device": "d9", ')
    expect_error(r, 400, "not valid JSON", "line 1")
    assert snapshot(emu) == before


@pytest.mark.parametrize("path", JSON_TARGETS)
def test_wrong_content_type_form_body_on_a_json_route(
    emu: InProcessEmulator, seeded: None, path: str
) -> None:
    before = snapshot(emu)
    r = raw_post(emu, path, b"device=d9&type=HTTP", "application/x-www-form-urlencoded")
    expect_error(r, 400, "JSON")
    assert snapshot(emu) == before


# /oauth/token takes JSON too, as the real server's OpenAPI has it (tests/emulator/test_thinger_oauth.py).
@pytest.mark.parametrize("path", ["/iot-flow/v1/oauth/token"])
def test_wrong_content_type_json_on_a_form_route(emu: InProcessEmulator, path: str) -> None:
    before = snapshot(emu)
    r = emu.anon("POST", path, json={"grant_type": "password", "username": USER, "password": TEST_TOKEN})
    expect_error(r, 400, "form body")
    assert snapshot(emu) == before


@pytest.mark.parametrize("path", JSON_TARGETS)
def test_empty_body(emu: InProcessEmulator, seeded: None, path: str) -> None:
    before = snapshot(emu)
    expect_error(raw_post(emu, path, b""), 400, "empty")
    expect_error(raw_post(emu, path, b"   \n"), 400, "empty")
    assert snapshot(emu) == before


@pytest.mark.parametrize("path", [*JSON_TARGETS, pytest.param(INGEST, id="ingest")])
def test_huge_body_is_413(emu: InProcessEmulator, seeded: None, path: str) -> None:
    before = snapshot(emu, ignore=CONNECTION_STATS)
    big = json.dumps({"device": "d9", "name": "x" * (MAX_BODY + 10)}).encode()
    expect_error(raw_post(emu, path, big), 413, "too large", str(MAX_BODY))

    # Streamed without Content-Length (chunked): cut off while reading, same answer.
    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    r = emu.http.post(path, content=chunks(), headers={"Content-Type": "application/json"})
    expect_error(r, 413, "too large")
    assert snapshot(emu, ignore=CONNECTION_STATS) == before


@pytest.mark.parametrize("path", JSON_TARGETS)
def test_deep_nesting(emu: InProcessEmulator, seeded: None, path: str) -> None:
    before = snapshot(emu)
    r = raw_post(emu, path, DEEP)
    expect_error(r, 400, "nested too deeply")
    assert snapshot(emu) == before


@pytest.mark.parametrize("path", JSON_TARGETS)
def test_invalid_utf8(emu: InProcessEmulator, seeded: None, path: str) -> None:
    before = snapshot(emu)
    r = raw_post(emu, path, b'{"device": "d\xff\xfe9"}')
    expect_error(r, 400, "UTF-8")
    assert snapshot(emu) == before


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"temp": ', id="malformed"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"t": "\xff"}', id="utf8"),
        pytest.param(DEEP, id="deep"),
    ],
)
def test_not_json_at_callback_ingest_is_200_and_nothing_stored(emu: InProcessEmulator, body: bytes) -> None:
    """[source] a device that sends something else than JSON gets 200; nothing is stored; the journal says why."""
    seed_thinger(emu)
    before = snapshot(emu, ignore=CONNECTION_STATS)
    after_id = last_event_id(emu)
    r = raw_post(emu, INGEST, body)
    assert r.status_code == 200, r.text
    assert snapshot(emu, ignore=CONNECTION_STATS) == before
    reasons = json.dumps(events_since(emu, after_id))
    assert "JSON" in reasons or "json" in reasons, reasons


# --- ids, fields, types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "words"),
    [
        (f"{DEVICES}/bad.id", ["invalid", "device", "bad.id"]),
        (f"{DEVICES}/{'x' * 33}", ["invalid", "device"]),
        (f"{DEVICES}/d%20x", ["invalid", "device"]),
        ("/v1/users/bad!user/devices", ["invalid", "user"]),
        ("/_emulator/deliveries/abc", ["invalid", "delivery"]),
    ],
)
def test_bad_path_ids(emu: InProcessEmulator, device: str, path: str, words: list[str]) -> None:
    before = snapshot(emu)
    expect_error(emu.http.get(path), 400, *words)
    if path.startswith(f"{DEVICES}/"):
        expect_error(emu.http.delete(path), 400, *words)
        expect_error(emu.http.put(path, json={"name": "x"}), 400, *words)
    assert snapshot(emu) == before


def test_bad_connection_ids(emu: InProcessEmulator, connection: str) -> None:
    before = snapshot(emu)
    for cid in ("no-such-connection", "0" * 32):
        expect_error(emu.http.get(f"{CONNECTIONS}/{cid}"), 404, "not found")
        expect_error(emu.http.delete(f"{CONNECTIONS}/{cid}"), 404, "not found")
    assert snapshot(emu) == before


def test_bad_id_in_body(emu: InProcessEmulator, device: str) -> None:
    before = snapshot(emu)
    expect_error(emu.http.post(DEVICES, json={"device": "bad id"}), 400, "device")
    expect_error(emu.http.post(DEVICES, json={"device": "x" * 33}), 400, "device")
    expect_error(emu.http.post(DEVICES, json={"device": "d1"}), 400, "d1")  # exists already
    assert snapshot(emu) == before


def test_unknown_fields(emu: InProcessEmulator, seeded: None, sink: Sink) -> None:
    before = snapshot(emu)
    expect_error(emu.http.post(DEVICES, json={"device": "d9", "colour": "red"}), 400, "colour")
    expect_error(emu.http.put(f"{DEVICES}/d1", json={"colour": "red"}), 400, "colour")
    # (a connection's unknown keys are stored and echoed, like the real server's: tests/conformance)
    expect_error(emu.http.post(ADVANCE, json={"seconds": 1, "colour": "red"}), 400, "colour")
    assert snapshot(emu) == before


def test_unknown_fields_in_callback_settings(emu: InProcessEmulator, device: str) -> None:
    before = snapshot(emu)
    r = emu.http.put(
        f"/v3/users/{USER}/devices/d1/callback", json={"actions": {"write_bucket": "b1"}, "colour": 1}
    )
    expect_error(r, 400, "colour")
    r = emu.http.put(
        f"/v3/users/{USER}/devices/d1/callback", json={"actions": {"write_bucket": "no_such_bucket"}}
    )
    expect_error(r, 400, "no_such_bucket")
    assert snapshot(emu) == before


def test_wrong_types(emu: InProcessEmulator, seeded: None, sink: Sink, connection: str) -> None:
    before = snapshot(emu)
    expect_error(emu.http.post(DEVICES, json={"device": "d9", "enabled": "yes"}), 400, "enabled")
    expect_error(emu.http.post(DEVICES, json=["d9"]), 400)
    expect_error(
        emu.http.post(CONNECTIONS, json=connection_body(sink.url, strictMode="yes")), 400, "strictMode"
    )
    body = connection_body(sink.url, downlinkAsId="as1", downlinkAsKey="k" * 32)
    body["configuration"]["headers"] = ["not", "a", "map"]  # type: ignore[index]
    expect_error(emu.http.put(f"{CONNECTIONS}/{connection}", json=body), 400, "headers")
    expect_error(emu.http.post(ADVANCE, json={"seconds": "soon"}), 400, "seconds")
    assert snapshot(emu) == before


def test_wrong_types_in_uplinks(emu: InProcessEmulator, connection: str) -> None:
    before = snapshot(emu)
    expect_error(
        emu.http.post(UPLINKS, json={"DevEUI": DEVEUI, "FPort": "one", "payload_hex": "00"}), 400, "FPort"
    )
    expect_error(emu.http.post(UPLINKS, json={"DevEUI": 42, "FPort": 1, "payload_hex": "00"}), 400, "DevEUI")
    assert snapshot(emu) == before


# --- tokens ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", DEVICES), ("GET", CONNECTIONS), ("GET", "/_emulator/events"), ("POST", "/_emulator/reset")],
)
def test_missing_and_unknown_tokens_are_401(
    emu: InProcessEmulator, seeded: None, method: str, path: str
) -> None:
    before = snapshot(emu)
    expect_error(emu.anon(method, path), 401, "missing token")
    expect_error(
        emu.anon(method, path, headers={"Authorization": "Bearer not-a-token"}), 401, "invalid token"
    )
    expect_error(emu.anon(method, path, params={"authorization": "not-a-token"}), 401, "invalid token")
    expect_error(emu.anon(method, path, headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)
    assert snapshot(emu) == before


def test_expired_oauth_tokens_are_401(emu: InProcessEmulator, seeded: None) -> None:
    form = {"grant_type": "password", "username": USER, "password": TEST_TOKEN}
    thinger = emu.anon("POST", "/oauth/token", data=form).json()["access_token"]
    form = {"grant_type": "client_credentials", "client_id": USER, "client_secret": TEST_TOKEN}
    iotflow = emu.anon("POST", "/iot-flow/v1/oauth/token", data=form).json()["access_token"]
    assert emu.anon("GET", DEVICES, headers={"Authorization": f"Bearer {thinger}"}).status_code == 200
    emu.advance(7201)  # Thinger access tokens last 7200 s, IoT Flow ones 3600 s
    before = snapshot(emu)
    expect_error(emu.anon("GET", DEVICES, headers={"Authorization": f"Bearer {thinger}"}), 401, "expired")
    expect_error(emu.anon("GET", CONNECTIONS, headers={"Authorization": f"Bearer {iotflow}"}), 401, "expired")
    expect_error(emu.anon("POST", "/_emulator/reset", headers={"Authorization": f"Bearer {thinger}"}), 401)
    assert snapshot(emu) == before


def test_bad_logins_are_401(emu: InProcessEmulator) -> None:
    before = snapshot(emu)
    r = emu.anon(
        "POST", "/oauth/token", data={"grant_type": "password", "username": USER, "password": "wrong"}
    )
    expect_error(r, 401, "bad username or password")
    form = {"grant_type": "client_credentials", "client_id": USER, "client_secret": "wrong"}
    expect_error(emu.anon("POST", "/iot-flow/v1/oauth/token", data=form), 401)
    assert snapshot(emu) == before


def test_device_token_is_not_an_account_token(emu: InProcessEmulator, device: str) -> None:
    r = emu.http.post(f"{DEVICES}/d1/tokens", json={"token_name": "t1"})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    before = snapshot(emu)
    auth = {"Authorization": f"Bearer {token}"}
    expect_error(emu.anon("GET", DEVICES, headers=auth), 403)
    expect_error(emu.anon("DELETE", f"{DEVICES}/d1", headers=auth), 403)
    expect_error(emu.anon("GET", CONNECTIONS, headers=auth), 403)
    expect_error(emu.anon("POST", "/_emulator/reset", headers=auth), 403)
    assert snapshot(emu) == before


def test_other_users_path_is_403(emu: InProcessEmulator, device: str) -> None:
    before = snapshot(emu)
    expect_error(emu.http.get("/v1/users/someone_else/devices"), 403, "someone_else")
    expect_error(emu.http.post("/v1/users/someone_else/devices", json={"device": "d9"}), 403)
    expect_error(emu.http.delete("/v1/users/someone_else/devices/d1"), 403)
    assert snapshot(emu) == before


def test_revoked_and_foreign_device_tokens_at_ingest(emu: InProcessEmulator) -> None:
    seeded = seed_thinger(emu)
    token = seeded["device_token"]
    before = snapshot(emu, ignore=CONNECTION_STATS)
    # A token of d1 posting to d2's callback: valid token, wrong device.
    r = emu.anon(
        "POST",
        f"/v3/users/{USER}/devices/d2/callback/data",
        json={"temp": 1},
        headers={"Authorization": f"Bearer {token}"},
    )
    expect_error(r, 403, "d2")
    assert snapshot(emu, ignore=CONNECTION_STATS) == before
    # Revoked: refused at once.
    assert emu.http.delete(f"{DEVICES}/d1/tokens/{seeded['device_token_id']}").status_code == 200
    before = snapshot(emu, ignore=CONNECTION_STATS)
    r = emu.anon("POST", INGEST, json={"temp": 2}, headers={"Authorization": f"Bearer {token}"})
    expect_error(r, 401)
    r = emu.anon("POST", INGEST, json={"temp": 2}, params={"authorization": token})
    expect_error(r, 401)
    assert snapshot(emu, ignore=CONNECTION_STATS) == before


def test_expired_device_token_at_ingest(emu: InProcessEmulator) -> None:
    seed_thinger(emu)
    now_ms = emu.http.get("/_emulator/clock").json()["now_ms"]
    r = emu.http.post(
        f"{DEVICES}/d1/tokens", json={"token_name": "short", "token_expiration": now_ms + 60_000}
    )
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    emu.advance(7200)
    before = snapshot(emu, ignore=CONNECTION_STATS)
    r = emu.anon("POST", INGEST, json={"temp": 2}, headers={"Authorization": f"Bearer {token}"})
    expect_error(r, 401, "expired")
    assert snapshot(emu, ignore=CONNECTION_STATS) == before


# --- IoT Flow: hex, ports, URLs, templates ---------------------------------------------------------


def downlink(**fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "DevEUI": DEVEUI,
        "FPort": 1,
        "payload_hex": "0a0b",
        "AS_ID": "as1",
        "AS_KEY": "k" * 32,
    }
    body.update(fields)
    return {"DevEUI_downlink": body}


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"payload_hex": "zz"}, "payload_hex"),
        ({"payload_hex": "abc"}, "payload_hex"),  # odd length
        ({"DevEUI": "0024AEB3C02BE1CZ"}, "DevEUI"),
        ({"DevEUI": "0024AEB3"}, "DevEUI"),
        ({"CorrelationID": "xyz"}, "CorrelationID"),
    ],
)
def test_bad_hex_in_downlinks(
    emu: InProcessEmulator, connection: str, fields: dict[str, object], word: str
) -> None:
    before = snapshot(emu)
    r = emu.http.post(downlink_path(emu, connection), json=downlink(**fields))
    expect_error(r, 400, word)
    assert snapshot(emu) == before


def test_bad_hex_in_uplinks(emu: InProcessEmulator, connection: str) -> None:
    before = snapshot(emu)
    expect_error(
        emu.http.post(UPLINKS, json={"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "zz"}), 400, "payload_hex"
    )
    expect_error(
        emu.http.post(UPLINKS, json={"DevEUI": "XYZ", "FPort": 1, "payload_hex": "00"}), 400, "DevEUI"
    )
    assert snapshot(emu) == before


def test_bad_hex_in_configuration(emu: InProcessEmulator, connection: str, sink: Sink) -> None:
    before = snapshot(emu)
    body = connection_body(sink.url, lrcCompliance=True, tiak="not-hex")
    expect_error(emu.http.post(CONNECTIONS, json=body), 400, "tiak")
    body = connection_body(sink.url, lrcCompliance=True, tiak="ab" * 15)  # 30 hex digits, not 32
    expect_error(emu.http.post(CONNECTIONS, json=body), 400, "tiak")
    assert snapshot(emu) == before


@pytest.mark.parametrize("fport", [0, 225, -1, 100000])
def test_out_of_range_downlink_ports(emu: InProcessEmulator, connection: str, fport: int) -> None:
    before = snapshot(emu)
    r = emu.http.post(downlink_path(emu, connection), json=downlink(FPort=fport))
    expect_error(r, 400, "FPort")
    assert snapshot(emu) == before


def test_out_of_range_uplink_ports(emu: InProcessEmulator, connection: str) -> None:
    before = snapshot(emu)
    for fport in (-1, 256, 10**6):
        r = emu.http.post(UPLINKS, json={"DevEUI": DEVEUI, "FPort": fport, "payload_hex": "00"})
        expect_error(r, 400, "FPort")
    assert snapshot(emu) == before


def test_out_of_range_ports_in_configuration(emu: InProcessEmulator, connection: str, sink: Sink) -> None:
    before = snapshot(emu)
    for port in (0, 225, "one"):
        expect_error(
            emu.http.post(CONNECTIONS, json=connection_body(sink.url, downlinkPort=port)), 400, "downlinkPort"
        )
    assert snapshot(emu) == before


@pytest.mark.parametrize(
    "url",
    ["ftp://example.test/x", "not a url", "", "http://", "javascript:alert(1)", "http://exa mple.test/"],
)
def test_bad_destination_urls(emu: InProcessEmulator, connection: str, url: str) -> None:
    before = snapshot(emu)
    expect_error(emu.http.post(CONNECTIONS, json=connection_body(url)), 400, "destinationURL")
    # Replacing a stored connection with a bad URL leaves the stored one as it was.
    current = emu.http.get(f"{CONNECTIONS}/{connection}").json()
    current["configuration"]["destinationURL"] = url
    expect_error(emu.http.put(f"{CONNECTIONS}/{connection}", json=current), 400, "destinationURL")
    assert snapshot(emu) == before


def test_bad_proxy_in_configuration(emu: InProcessEmulator, connection: str, sink: Sink) -> None:
    before = snapshot(emu)
    # ({"hostname": 5} is coerced to "5", and unknown proxy keys are stored, as the real server does.)
    for proxy in ({"hostname": ""}, {"hostname": {"h": 1}}, "proxy.example:3128", {"username": "u"}):
        expect_error(emu.http.post(CONNECTIONS, json=connection_body(sink.url, proxy=proxy)), 400, "proxy")
    assert snapshot(emu) == before


def test_header_templates_that_do_not_resolve(emu: InProcessEmulator, sink: Sink) -> None:
    """A header expression with no value for this uplink does not lose the uplink: it is still delivered,
    and the header falls back to an empty value (or the expression's quoted literal)."""
    headers = {
        "X-Missing": "{NoSuchField}",
        "X-Path": "{$.DevEUI_uplink.CustomerData.nothing}",
        "X-Fallback": "{CustomerData.nothing|'none'}",
        "X-Dev": "{DevEUI}",
    }
    seed_iotflow(emu, sink.url, headers=headers)
    got = sink.wait_for(1)[-1]
    assert got.headers["x-dev"] == DEVEUI
    assert got.headers["x-fallback"] == "none"
    assert got.headers.get("x-missing", "") == ""
    assert got.headers.get("x-path", "") == ""
    deliveries = emu.http.get("/_emulator/deliveries").json()
    assert [d["status"] for d in deliveries] == ["delivered"]


# --- numbers out of range ----------------------------------------------------------------------------

HUGE = 2**70  # valid JSON, beyond SQLite's 64-bit INTEGER


@pytest.mark.parametrize(
    ("method", "path", "body", "word"),
    [
        pytest.param(
            "GET",
            "/v1/users/local/buckets/b1/data?min_ts=99999999999999999999999",
            None,
            "min_ts",
            id="min_ts",
        ),
        pytest.param(
            "GET",
            "/v1/users/local/buckets/b1/data?max_ts=-99999999999999999999999",
            None,
            "max_ts",
            id="max_ts",
        ),
        pytest.param(
            "GET", "/_emulator/events?after=99999999999999999999999", None, "after", id="events-after"
        ),
        pytest.param(
            "POST",
            f"{DEVICES}/d1/tokens",
            {"token_name": "t", "token_expiration": HUGE},
            "token_expiration",
            id="token-expiration",
        ),
        pytest.param(
            "POST",
            UPLINKS,
            {"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "00", "DevEUI_uplink": {"FCntUp": HUGE}},
            "FCntUp",
            id="uplink-fcntup",
        ),
    ],
)
def test_numbers_out_of_range_are_400_naming_the_field(
    emu: InProcessEmulator, connection: str, method: str, path: str, body: object, word: str
) -> None:
    seed_thinger(emu)
    before = snapshot(emu, ignore=CONNECTION_STATS)
    r = emu.http.request(method, path, json=body) if body is not None else emu.http.request(method, path)
    message = expect_error(r, 400)
    assert re.search(rf"'(\w+\.)*{word}'", message), message  # names the field, e.g. 'DevEUI_uplink.FCntUp'
    assert snapshot(emu, ignore=CONNECTION_STATS) == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param(INGEST, {"ts": HUGE, "t": 1}, id="ingest-ts"),
        pytest.param(INGEST, {"ts": 1e30, "t": 1}, id="ingest-ts-float"),
        pytest.param(INGEST + "?ts=99999999999999999999999", {"t": 1}, id="ingest-query-ts"),
        pytest.param("/v1/users/local/buckets/b1/data", {"ts": HUGE, "t": 1}, id="bucket-write-ts"),
    ],
)
def test_record_times_out_of_range(emu: InProcessEmulator, path: str, body: object) -> None:
    """A record time no clock can reach: either a 400 naming 'ts', or (like a ts that is not a number) kept as
    data and stored at now. Not a generic error, and never a 500."""
    seed_thinger(emu)
    before = snapshot(emu, ignore=CONNECTION_STATS)
    r = emu.http.post(path, json=body)
    if r.status_code == 400:
        expect_error(r, 400, "'ts'")
        assert snapshot(emu, ignore=CONNECTION_STATS) == before
    else:
        assert r.status_code == 200, r.text
        records = emu.http.get("/v1/users/local/buckets/b1/data", params={"items": 1000}).json()
        assert any(rec["val"].get("t") == 1 for rec in records)


def test_huge_retention_is_accepted_and_the_bucket_stays_readable(emu: InProcessEmulator) -> None:
    """The real schema has no maximum for retention.period: accepted; reading must still work."""
    bucket = {
        "bucket": "b9",
        "name": "b9",
        "enabled": True,
        "config": {"source": "write"},
        "retention": {"period": HUGE, "unit": "years"},
    }
    assert emu.http.post(f"/v1/users/{USER}/buckets", json=bucket).status_code == 200
    assert emu.http.post(f"/v1/users/{USER}/buckets/b9/data", json={"t": 1}).status_code == 200
    r = emu.http.get(f"/v1/users/{USER}/buckets/b9/data")
    assert r.status_code == 200, r.text
    assert [rec["val"] for rec in r.json()] == [{"t": 1}]


def test_downlink_fcntdn_out_of_range_is_400_naming_it(emu: InProcessEmulator, connection: str) -> None:
    before = snapshot(emu)
    r = emu.http.post(downlink_path(emu, connection), json=downlink(FCntDn=HUGE))
    expect_error(r, 400, "'DevEUI_downlink.FCntDn'")
    assert snapshot(emu) == before


def test_nan_and_infinity_are_not_json(emu: InProcessEmulator, device: str) -> None:
    before = snapshot(emu)
    r = raw_post(emu, f"/v3/users/{USER}/devices/d1/properties", b'{"property": "p", "value": NaN}')
    expect_error(r, 400, "NaN")
    expect_error(raw_post(emu, ADVANCE, b'{"seconds": Infinity}'), 400, "Infinity")
    assert snapshot(emu) == before


def test_one_bad_ingest_call_does_not_fail_the_concurrent_good_ones(
    emulator: InProcessEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent ingest calls share one store job; a call whose write fails must fail alone."""
    import asyncio

    import httpx

    emu = emulator
    bucket = {"bucket": "b1", "name": "b1", "enabled": True, "config": {"source": "write"}}
    assert emu.http.post(f"/v1/users/{USER}/buckets", json=bucket).is_success
    for dev in ("d1", "d3"):
        assert emu.http.post(DEVICES, json={"device": dev}).is_success
        r = emu.http.put(f"/v3/users/{USER}/devices/{dev}/callback", json={"actions": {"write_bucket": "b1"}})
        assert r.is_success

    from iotcli.emulator.thinger.backend.ingest import IngestWriter

    real_write = IngestWriter._write
    batch_sizes: list[int] = []

    def failing_write(self: IngestWriter, conn: Any, calls: list[Any]) -> Any:
        # A write that fails in the store for d3's call, whatever else shares its job.
        batch_sizes.append(len(calls))
        if any(call.info.device == "d3" for call in calls):
            raise sqlite3.IntegrityError("injected failure for d3")
        return real_write(self, conn, calls)

    monkeypatch.setattr(IngestWriter, "_write", failing_write)

    async def burst() -> list[int]:
        auth = {"Authorization": f"Bearer {TEST_TOKEN}"}
        transport = httpx.ASGITransport(emu.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=auth) as c:
            calls = [c.post(INGEST, json={"ts": 1_600_000_000_000 + i, "i": i}) for i in range(100)]
            calls.insert(50, c.post(f"/v3/users/{USER}/devices/d3/callback/data", json={"i": -1}))
            return [r.status_code for r in await asyncio.gather(*calls)]

    codes = emu.run(burst())
    assert max(batch_sizes) > 1  # the calls did share store jobs
    assert codes.count(500) == 1 and codes.count(200) == 100, codes
    after = emu.http.get(f"/v1/users/{USER}/buckets/b1/data", params={"items": 1000}).json()
    assert sorted(rec["val"]["i"] for rec in after) == list(range(100))
