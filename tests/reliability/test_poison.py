"""Poison input (issue 11, items 1-2): JSON the edge policy refuses never reaches the store.

A lone surrogate (``"\\ud800"``), a number beyond a double (``1e400``) or an integer over 4,300 digits
used to be saved and then break every read of it (500s, across restarts). Each surface now answers 400
naming the field (callback ingest: 200, nothing stored, as for any body that is not JSON [source]),
nothing stored changes, and the server keeps serving.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from iotcli.emulator.jsonpolicy import JsonRejected, decode
from iotcli.emulator.settings import EmulatorSettings
from tests.harness import TEST_TOKEN, TEST_USER, InProcessEmulator, Sink
from tests.reliability.support import (
    CONNECTION_STATS,
    DEVEUI,
    USER,
    expect_error,
    raw_post,
    seed_thinger,
    snapshot,
)

DEVICES = f"/v1/users/{USER}/devices"
BUCKET_DATA = f"/v1/users/{USER}/buckets/b1/data"
CONNECTIONS = "/iot-flow/v1/connections"
INGEST = f"/v3/users/{USER}/devices/d1/callback/data"

#: (name, JSON text of the bad value, what the message says)
POISONS = [
    pytest.param('"\\ud800"', "not valid Unicode", id="lone-surrogate"),
    pytest.param('"ok\\udfff"', "not valid Unicode", id="lone-low-surrogate"),
    pytest.param("1e400", "out of range", id="1e400"),
    pytest.param("-1e400", "out of range", id="minus-1e400"),
    pytest.param("1" * 400, "out of range", id="int-400-digits"),
    pytest.param("9" * 5000, "out of range", id="int-5000-digits"),
]


@pytest.fixture
def emu() -> Iterator[InProcessEmulator]:
    settings = EmulatorSettings(data_dir=None, token=TEST_TOKEN, user=TEST_USER, time_scale=0.01)
    with InProcessEmulator(settings) as e:
        yield e


@pytest.fixture
def seeded(emu: InProcessEmulator, sink: Sink) -> dict[str, str]:
    info = seed_thinger(emu)
    r = emu.http.post(
        CONNECTIONS,
        json={
            "connectorId": "actility-http-iot",
            "name": "c1",
            "configuration": {"destinationURL": sink.url},
        },
    )
    assert r.status_code == 201, r.text
    info["connection"] = r.json()["id"]
    info["downlink"] = urlsplit(r.json()["downlinkUrl"]).path
    emu.advance(1)
    emu.wait_idle()
    return info


def still_serving(emu: InProcessEmulator) -> None:
    """Health and every read that older versions broke still answer 200 with JSON."""
    for path in (
        "/_emulator/health",
        BUCKET_DATA,
        f"/v2/users/{USER}/buckets/b1/data",
        DEVICES,
        f"/v3/users/{USER}/devices/d1/properties",
        CONNECTIONS,
        "/_emulator/lorawan/downlinks",
        "/_emulator/events",
        "/_emulator/deliveries",
    ):
        r = emu.http.get(path)
        assert r.status_code == 200, (path, r.text)
        r.json()


def targets(info: dict[str, str], bad: str) -> list[tuple[str, str]]:
    """(path, JSON body text) of every surface's body route, each with the bad value in one field."""
    dl = f'{{"DevEUI_downlink": {{"DevEUI": "{DEVEUI}", "FPort": 1, "payload_hex": "00", "CorrelationID": {bad}}}}}'
    return [
        (DEVICES, f'{{"device": "d9", "name": {bad}}}'),
        (BUCKET_DATA, f'{{"ts": 1650000000000, "v": {bad}}}'),
        (f"/v3/users/{USER}/devices/d1/properties", f'{{"property": "p", "value": {{"deep": [1, {bad}]}}}}'),
        (
            CONNECTIONS,
            '{"connectorId": "actility-http-iot", "name": "c9", "configuration":'
            f' {{"destinationURL": "http://127.0.0.1:9/x"}}, "alarms": [{{"x": {bad}}}]}}',
        ),
        (f"{CONNECTIONS}/{info['connection']}", f'{{"connectorId": "actility-http-iot", "name": {bad}}}'),
        (info["downlink"], dl),
        ("/_emulator/lorawan/uplinks", f'{{"DevEUI": "{DEVEUI}", "FPort": 1, "payload": {{"t": {bad}}}}}'),
        ("/_emulator/clock/advance", f'{{"seconds": {bad}}}'),
    ]


@pytest.mark.parametrize(("bad", "word"), POISONS)
def test_poison_values_are_400_naming_the_field_on_every_surface(
    emu: InProcessEmulator, seeded: dict[str, str], bad: str, word: str
) -> None:
    before = snapshot(emu)
    for path, body in targets(seeded, bad):
        method = "PUT" if path.startswith(f"{CONNECTIONS}/") else "POST"
        headers = {"Content-Type": "application/json"}
        r = emu.http.request(method, path, content=body.encode(), headers=headers)
        message = expect_error(r, 400, word)
        assert "'" in message or "the body" in message, (path, message)  # names the field
    emu.wait_idle()
    assert snapshot(emu) == before
    still_serving(emu)


def test_the_message_names_the_path(emu: InProcessEmulator, seeded: dict[str, str]) -> None:
    r = raw_post(
        emu, f"/v3/users/{USER}/devices/d1/properties", b'{"property":"p","value":{"a":[0,"\\ud800"]}}'
    )
    expect_error(r, 400, "'value.a[1]'", "not valid Unicode")
    r = raw_post(emu, BUCKET_DATA, b'{"ts":1650000000000,"v":1e400}')
    expect_error(r, 400, "'v'", "1e400")
    r = raw_post(emu, "/_emulator/clock/advance", b'{"seconds":' + b"7" * 5000 + b"}")
    expect_error(r, 400, "'seconds'", "5000 digits")


def test_the_downlink_url_needs_no_token_and_still_refuses_poison(
    emu: InProcessEmulator, seeded: dict[str, str]
) -> None:
    before = snapshot(emu)
    body = f'{{"DevEUI_downlink": {{"DevEUI": "{DEVEUI}", "FPort": 1, "payload": {{"x": "\\ud800"}}}}}}'
    r = emu.anon(
        "POST", seeded["downlink"], content=body.encode(), headers={"Content-Type": "application/json"}
    )
    expect_error(r, 400, "not valid Unicode")
    assert snapshot(emu) == before
    still_serving(emu)


@pytest.mark.parametrize(("bad", "word"), POISONS)
def test_poison_at_callback_ingest_is_200_and_nothing_stored(
    emu: InProcessEmulator, seeded: dict[str, str], bad: str, word: str
) -> None:
    """A device token cannot poison the bucket or the properties: the body is not taken [source: not JSON -> 200]."""
    r = emu.http.put(
        f"/v3/users/{USER}/devices/d1/callback",
        json={"actions": {"write_bucket": "b1", "set_property": "last"}},
    )
    assert r.status_code == 200
    before = snapshot(emu, ignore=CONNECTION_STATS)
    r = emu.anon(
        "POST",
        INGEST,
        content=f'{{"ts": 1660000000000, "x": {bad}}}'.encode(),
        headers={"Authorization": f"Bearer {seeded['device_token']}", "Content-Type": "application/json"},
    )
    assert r.status_code == 200 and r.content == b""
    assert word in r.headers["X-Iotcli-Not-Stored"] and "'x'" in r.headers["X-Iotcli-Not-Stored"]
    assert snapshot(emu, ignore=CONNECTION_STATS) == before
    ignored = emu.http.get("/_emulator/events", params={"kind": "callback.ignored"}).json()
    assert word in ignored[-1]["reason"]
    still_serving(emu)


def test_good_json_is_untouched() -> None:
    """Paired surrogate escapes (an emoji), big but finite numbers and 64-bit integers pass."""
    assert decode('{"e": "\\ud83d\\ude00", "f": 1.5e308, "i": 18446744073709551615, "n": -0}') == {
        "e": "\U0001f600",
        "f": 1.5e308,
        "i": 18446744073709551615,
        "n": 0,
    }
    assert decode("1" * 300) == int("1" * 300)
    assert decode('"\\\\ud800"') == "\\ud800"  # an escaped backslash, not a surrogate
    with pytest.raises(JsonRejected):
        decode('{"k\\ud800": 1}')


def test_rows_older_versions_stored_are_repaired_at_start(tmp_path: Path) -> None:
    """A data dir with unreadable values (written before the policy) is repaired once, on start, and reported."""
    data = tmp_path / "data"
    settings = EmulatorSettings(data_dir=data, token=TEST_TOKEN, user=TEST_USER)
    with InProcessEmulator(settings) as emu:
        seed_thinger(emu)
        assert emu.http.put(f"/v3/users/{USER}/devices/d1/properties/p", json={"value": 1}).status_code == 200
    db = sqlite3.connect(data / "emulator.db")
    with db:
        db.execute("DELETE FROM meta WHERE key = 'json_policy_checked'")  # as an older version left it
        db.execute(
            "INSERT INTO th_bucket_data(user, bucket, ts, val, device) VALUES (?, 'b1', 1, ?, 'd1')",
            (USER, '{"x": "\\ud800", "ok": 1}'),
        )
        db.execute(
            "INSERT INTO th_bucket_data(user, bucket, ts, val, device) VALUES (?, 'b1', 2, ?, 'd1')",
            (USER, '{"v": 1e400}'),
        )
        db.execute(
            "UPDATE th_properties SET doc = ? WHERE property = 'p'", ('{"property": "p", "value": NaN}',)
        )
    db.close()
    with InProcessEmulator(settings) as emu:
        r = emu.http.get(BUCKET_DATA, params={"sort": "asc"})
        assert r.status_code == 200, r.text
        vals = [rec["val"] for rec in r.json()]
        assert {"x": "\ufffd", "ok": 1} in vals and {"v": None} in vals
        r = emu.http.get(f"/v3/users/{USER}/devices/d1/properties/p")
        assert r.status_code == 200 and r.json()["value"] is None
        repaired = emu.http.get("/_emulator/events", params={"kind": "store.repaired"}).json()
        assert {e["detail"].split(":")[0] for e in repaired} == {"th_bucket_data", "th_properties"}
    with InProcessEmulator(settings) as emu:  # once: the check is not repeated
        assert len(emu.http.get("/_emulator/events", params={"kind": "store.repaired"}).json()) == 2


def test_sink_recording_a_poison_body_stays_readable(emu: InProcessEmulator) -> None:
    """A sink takes any body (it is a destination); listing what it recorded must not break."""
    assert emu.http.post("/_emulator/sinks", json={"name": "s1"}).status_code in (200, 201)
    r = emu.anon("POST", "/_emulator/sinks/s1/in", content=b'{"x": "\\ud800", "v": 1e400}')
    assert r.status_code < 500
    r = emu.http.get("/_emulator/sinks/s1/requests")
    assert r.status_code == 200, r.text
    json.dumps(r.json())
