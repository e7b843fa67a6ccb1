"""Pure units of the IoT Flow surface: header patterns, the LRC token, reconnect schedules, proxy URLs."""

from __future__ import annotations

import json
from typing import Any

import pytest

from iotcli.emulator.iotflow.forwarding import duration_seconds, proxy_url
from iotcli.emulator.iotflow.lrc import encode_query, lrc_params, lrc_query, lrc_token
from iotcli.emulator.iotflow.reconnect import attempt_times, next_attempt
from iotcli.emulator.iotflow.templates import render_headers, render_value

UPLINK = {
    "DevEUI": "0018B20000000B20",
    "FPort": 1,
    "FCntUp": 7,
    "payload_hex": "0102",
    "CustomerID": "100122002",
    "CustomerData": {"name": "My Demo Device", "alr": {"pro": "ADRF/DEMO"}},
    "Lrrs": {"Lrr": [{"Lrrid": "004A18E3"}]},
}
DOC = {"DevEUI_uplink": UPLINK}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("BuildingA", "BuildingA"),
        ("{DevEUI}", "0018B20000000B20"),
        ("port-{FPort}-{FCntUp}", "port-1-7"),
        ("{CustomerData.name}", "My Demo Device"),
        ("{$.DevEUI_uplink.CustomerData.name}", "My Demo Device"),
        ("{$.DevEUI_uplink.Lrrs.Lrr[0].Lrrid}", "004A18E3"),
        ("{CustomerData.missing|DevEUI|'None'}", "0018B20000000B20"),
        ("{CustomerData.missing|Nope|'None'}", "None"),
        ('{Nope|"a|b"}', "a|b"),
        ("{CustomerData.alr}", '{"pro":"ADRF/DEMO"}'),
        ("{Nope}", ""),
        ("{$.bad[[}", ""),
        ("Bearer {DevEUI}", "Bearer 0018B20000000B20"),
    ],
)
def test_render_value(template: str, expected: str) -> None:
    assert render_value(template, DOC, UPLINK) == expected


def test_render_headers_never_emits_line_breaks() -> None:
    doc = {"DevEUI_uplink": {"DevEUI": "A\r\nX-Injected: 1"}}
    out = render_headers({"X-Thing": "{DevEUI}"}, doc, doc["DevEUI_uplink"])
    assert "\n" not in out["X-Thing"] and "\r" not in out["X-Thing"]


def test_lrc_token_check_vector_from_the_contract() -> None:
    query = (
        "LrnDevEui=0024AEB3C02BE1C4&LrnFPort=1&LrnInfos=TWA_100122002.8962.AS-1-4458785"
        "&AS_ID=sink&Time=2019-04-29T18:21:17.290+02:00"
    )
    token = lrc_token(
        customer_id="100122002",
        deveui="0024aeb3c02be1c4",  # upper-cased by the formula
        fport=1,
        fcnt_up=0,
        payload_hex="3E8D2190",  # lower-cased by the formula
        query=query,
        tiak="BEC499C69E9C939E413B663961636C61",  # lower-cased by the formula
    )
    assert token == "d306f33c239a9c45d160e0cd6e4071e22a4f4b426f892a0651cf622e81369f3d"


def test_lrc_params_reproduce_the_vector_through_the_uplink_path() -> None:
    uplink = {
        "DevEUI": "0024AEB3C02BE1C4",
        "FPort": 1,
        "FCntUp": 0,
        "payload_hex": "3e8d2190",
        "CustomerID": "100122002",
        "Time": "2019-04-29T18:21:17.290+02:00",
        "_LrnInfos": "TWA_100122002.8962.AS-1-4458785",
    }
    params = lrc_params(uplink, as_id="sink", tiak="bec499c69e9c939e413b663961636c61")
    assert list(params) == ["LrnDevEui", "LrnFPort", "LrnInfos", "AS_ID", "Time", "Token"]
    assert params["Token"] == "d306f33c239a9c45d160e0cd6e4071e22a4f4b426f892a0651cf622e81369f3d"
    assert lrc_query(params).endswith("&Time=2019-04-29T18:21:17.290+02:00")
    # On the wire the '+' of Time is encoded, so the receiver decodes the value the Token was made of.
    assert "Time=2019-04-29T18:21:17.290%2B02:00" in encode_query(params)


MIN, HOUR, DAY = 60, 3600, 86400


def test_normal_schedule() -> None:
    times = attempt_times("NORMAL", 0, 3 * DAY)
    assert times[:12] == [5 * MIN * k for k in range(1, 13)]  # every 5 min for 1 h
    assert times[12:14] == [2 * HOUR, 3 * HOUR]  # then hourly for a day
    assert times[35] == 25 * HOUR and times[36] == 49 * HOUR  # then daily
    assert next_attempt("NORMAL", 0, 100 * DAY) == 100 * DAY + HOUR


def test_calm_schedule_ends() -> None:
    times = attempt_times("CALM", 0, 10 * DAY)
    assert times[:2] == [10 * MIN, 20 * MIN] and times[71] == 12 * HOUR
    assert times[72] == 13 * HOUR and times[-1] == 36 * HOUR
    assert next_attempt("CALM", 0, 36 * HOUR) is None  # stays CLOSED


def test_aggressive_schedule() -> None:
    times = attempt_times("AGGRESSIVE", 0, 8 * DAY + 3 * HOUR)
    assert times[:2] == [3 * MIN, 6 * MIN] and times[59] == 3 * HOUR
    assert times[60] == 3 * HOUR + 30 * MIN
    last_half_hourly = 3 * HOUR + 7 * DAY
    assert last_half_hourly in times and last_half_hourly + HOUR in times
    assert last_half_hourly + 30 * MIN not in times


def test_next_attempt_after_a_clock_jump_lands_on_the_schedule() -> None:
    assert next_attempt("NORMAL", 1000, 1000 + 7 * MIN) == 1000 + 10 * MIN
    assert next_attempt("NORMAL", 1000, 1000 + 10 * MIN) == 1000 + 15 * MIN


@pytest.mark.parametrize(
    ("proxy", "url"),
    [
        (
            {"hostname": "proxy.local:3128", "username": "u", "password": "p@ss"},
            "http://u:p%40ss@proxy.local:3128",
        ),
        ({"hostname": "https://mycompany/", "username": "me"}, "https://me@mycompany"),
        ({"hostname": "http://127.0.0.1:8888"}, "http://127.0.0.1:8888"),
    ],
)
def test_proxy_url(proxy: dict[str, str], url: str) -> None:
    assert proxy_url(proxy) == url


def test_durations() -> None:
    assert duration_seconds("30s") == 30 and duration_seconds("5m") == 300
    assert duration_seconds("2h") == 7200 and duration_seconds("1d") == 86400
    assert duration_seconds(None) is None


# -- one encoding per uplink -----------------------------------------------------------------------


def _uplink(**overrides: object) -> dict[str, object]:
    from iotcli.emulator.iotflow.uplinks import UplinkRequest, build_uplink

    req = UplinkRequest(
        "0018B20000000ABC", 2, "01ff", {"temp": 21.5, "note": "café ✓"}, None, dict(overrides)
    )
    return build_uplink(req, now=1_700_000_000.123, fcnt_up=7, fcnt_dn=1, devaddr="04A1B2C3")


def test_splice_equals_encoding_the_merged_object() -> None:
    from iotcli.emulator.iotflow.jsonbody import compact_json, splice

    uplink = _uplink(Lrrid="FF00AA11", CustomerData={"k": [1, 2.5, None, True]})
    extra = {"downlinkUrl": "http://127.0.0.1:1/iot-flow/downlinkMessages/ab-cd", "x\u00e9": 1.0}
    assert splice(compact_json(uplink), extra) == compact_json({**uplink, **extra})
    assert splice(compact_json(uplink), {}) == compact_json(uplink)


@pytest.mark.parametrize(
    "configuration",
    [
        {},
        {"sendMetadata": True},
        {"sendRawDecodedFormat": True},
        {"sendMetadata": True, "sendRawDecodedFormat": True},
    ],
)
@pytest.mark.parametrize("kind", ["uplink", "downlink_event"])
def test_forwarded_body_is_the_same_with_or_without_the_ingress_encoding(
    configuration: dict[str, object], kind: str
) -> None:
    from types import SimpleNamespace

    from iotcli.emulator.iotflow.forwarding import ForwardingPolicy
    from iotcli.emulator.iotflow.jsonbody import compact_json

    policy = ForwardingPolicy.__new__(ForwardingPolicy)
    policy.emu = SimpleNamespace(settings=SimpleNamespace(base_url="http://127.0.0.1:8787"))  # type: ignore[assignment]
    conn: Any = SimpleNamespace(
        configuration={"destinationURL": "http://127.0.0.1:9/up", **configuration}, uuid="0b1c"
    )
    for uplink in (_uplink(), _uplink(downlinkUrl="http://elsewhere/x")):
        message = {"wrapper": "DevEUI_uplink", "body": uplink, "uplink": "u1"}
        plain = policy.build_request(conn, message, kind)
        spliced = policy.build_request(conn, message, kind, compact_json(uplink))
        assert spliced.body == plain.body
        assert json.loads(plain.body or b"")  # the body is JSON
    # An uplink that set its own downlinkUrl still gets the connection's one.
    body = json.loads(
        policy.build_request(conn, message, "uplink", compact_json(message["body"])).body or b""
    )
    inner = body if configuration.get("sendMetadata") else body.get("DevEUI_uplink", body)
    if "downlinkUrl" in inner:
        assert inner["downlinkUrl"] == "http://127.0.0.1:8787/iot-flow/downlinkMessages/0b1c"
