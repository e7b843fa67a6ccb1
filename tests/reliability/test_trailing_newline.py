"""A final newline never passes a ``^...$`` rule (issue 11, the bug class of item 4).

In Python ``$`` also matches before a final newline, so ``re.match(r"^...$", "abc\\n")`` and
jsonschema's ``pattern`` (``re.search``) took ``"abc\\n"``. Every id, DevEUI, hex, header name,
token and duration rule is checked with ``fullmatch`` (or, in a JSON Schema the emulator checks,
with the ``(?![\\s\\S])`` ending, which means "end of input" in ECMA-262 and Python alike).
"""

from __future__ import annotations

from typing import Any

import pytest

from iotcli.emulator.ecma import python_document, python_pattern
from iotcli.errors import UsageError
from iotcli.models.ids import is_id
from iotcli.models.lorawan import is_payload_hex, normalize_deveui
from iotcli.sending.items import parse_items
from tests.conftest import Cli
from tests.harness import InProcessEmulator
from tests.reliability.support import DEVEUI, USER, expect_error, seed_thinger, snapshot

ENDINGS = [pytest.param("\n", id="lf"), pytest.param("\r\n", id="crlf"), pytest.param(" ", id="space")]


def test_the_shared_rules_refuse_a_final_newline() -> None:
    assert is_id("abc") and not is_id("abc\n")
    assert normalize_deveui("0018B20000000B20") == "0018B20000000B20"
    assert normalize_deveui("0018B20000000B20\n") is None
    assert normalize_deveui(" 0018B20000000B20\n", strip=True) == "0018B20000000B20"  # CLI convenience
    assert is_payload_hex("0a0b") and not is_payload_hex("0a0b\n")


@pytest.mark.parametrize(
    ("ecma", "python"),
    [
        ("^a$", r"^a(?![\s\S])"),
        (r"^a\$$", r"^a\$(?![\s\S])"),
        ("^[$]a$|^b$", r"^[$]a(?![\s\S])|^b(?![\s\S])"),
        (r"^[\]$]$", r"^[\]$](?![\s\S])"),
        ("^a", "^a"),
    ],
)
def test_ecma_dollar_is_translated_only_where_it_is_an_anchor(ecma: str, python: str) -> None:
    assert python_pattern(ecma) == python
    doc = {"pattern": ecma, "patternProperties": {ecma: {"pattern": ecma}}, "properties": {"pattern": {}}}
    assert python_document(doc) == {
        "pattern": python,
        "patternProperties": {python: {"pattern": python}},
        "properties": {"pattern": {}},
    }


# --- ids in paths and bodies: 400 naming the field, nothing stored -------------------------------

PATH_CASES = [
    ("GET", "/v1/users/local/devices/{bad}", "device"),
    ("PUT", "/v1/users/local/devices/{bad}", "device"),
    ("POST", "/v1/users/local/devices/{bad}/tokens", "device"),
    ("GET", "/v1/users/local/buckets/{bad}", "bucket"),
    ("GET", "/v1/users/{bad}/devices", "user"),
    ("DELETE", "/v1/users/local/devices/d1/tokens/{bad}", "token"),
    ("POST", "/v3/users/local/devices/{bad}/callback/data", "device"),
]


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize(("method", "path", "word"), PATH_CASES)
def test_a_path_id_with_a_trailing_character_is_400(
    emulator: InProcessEmulator, method: str, path: str, word: str, ending: str
) -> None:
    seed_thinger(emulator)
    before = snapshot(emulator)
    bad = "d1" + ending.replace("\r", "%0D").replace("\n", "%0A").replace(" ", "%20")
    body: Any = {"name": "x"} if method in ("PUT", "POST") else None
    r = emulator.http.request(method, path.format(bad=bad), json=body)
    expect_error(r, 400, word)
    assert snapshot(emulator) == before


BODY_CASES = [
    ("/v1/users/local/devices", {"device": "abc{e}", "type": "HTTP"}, "device"),
    (
        "/v1/users/local/buckets",
        {"bucket": "b{e}", "name": "B", "enabled": True, "config": {"source": "write"}},
        "bucket",
    ),
    ("/_emulator/devices/bulk", {"devices": [{"device": "abc{e}"}]}, "device"),
    ("/_emulator/sinks", {"name": "s{e}"}, "sink"),
]


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize(("path", "template", "word"), BODY_CASES)
def test_a_body_id_with_a_trailing_character_is_400(
    emulator: InProcessEmulator, path: str, template: dict[str, Any], word: str, ending: str
) -> None:
    before = snapshot(emulator)
    body = _fill(template, ending)
    expect_error(emulator.http.post(path, json=body), 400, word)
    assert snapshot(emulator) == before
    good = emulator.http.post(path, json=_fill(template, ""))
    assert good.status_code in (200, 201), good.text


def _fill(value: Any, ending: str) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, ending) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ending) for v in value]
    return value.replace("{e}", ending) if isinstance(value, str) else value


def test_the_device_id_of_the_thinger_schema_refuses_a_final_newline(emulator: InProcessEmulator) -> None:
    """The real server's schema (``resource_id``: ``^[a-zA-Z0-9_-]{1,32}$``) is checked as ECMA-262 reads it."""
    r = emulator.http.post(f"/v1/users/{USER}/devices", json={"device": "abc\n", "type": "HTTP"})
    expect_error(r, 400, "device")
    assert emulator.http.get(f"/v1/users/{USER}/devices").json() == []


# --- DevEUI at the LoRaWAN ingress and the downlink routes --------------------------------------

CONNECTIONS = "/iot-flow/v1/connections"


def _connection(emu: InProcessEmulator) -> str:
    r = emu.http.post(
        CONNECTIONS,
        json={
            "connectorId": "actility-http-iot",
            "name": "c1",
            "configuration": {"destinationURL": "http://127.0.0.1:9/x"},
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["downlinkUrl"])


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize(
    ("body", "word"),
    [
        ({"DevEUI": DEVEUI + "{e}", "FPort": 1, "payload_hex": "01"}, "DevEUI"),
        ({"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "01{e}"}, "payload_hex"),
        (
            {"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "01", "DevEUI_uplink": {"DevEUI": DEVEUI + "{e}"}},
            "DevEUI",
        ),
    ],
)
def test_the_lorawan_ingress_refuses_a_trailing_character(
    emulator: InProcessEmulator, body: dict[str, Any], word: str, ending: str
) -> None:
    _connection(emulator)
    before = snapshot(emulator)
    expect_error(emulator.http.post("/_emulator/lorawan/uplinks", json=_fill(body, ending)), 400, word)
    assert snapshot(emulator) == before


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize(
    ("field", "value"),
    [("DevEUI", DEVEUI), ("payload_hex", "01"), ("CorrelationID", "0a1b"), ("Token", "ab" * 32)],
)
def test_the_downlink_routes_refuse_a_trailing_character(
    emulator: InProcessEmulator, field: str, value: str, ending: str
) -> None:
    url = _connection(emulator)
    before = snapshot(emulator)
    downlink: dict[str, Any] = {"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "01", field: value + ending}
    r = emulator.anon("POST", url, json={"DevEUI_downlink": downlink})
    expect_error(r, 400, field)
    assert snapshot(emulator) == before
    query = {"DevEUI": DEVEUI + ending}
    expect_error(emulator.http.get("/_emulator/lorawan/downlinks", params=query), 400, "DevEUI")


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize(("field", "value"), [("tiak", "ab" * 16), ("uplinkTimeValidity", "30s")])
def test_connection_fields_refuse_a_trailing_character(
    emulator: InProcessEmulator, field: str, value: str, ending: str
) -> None:
    before = snapshot(emulator)
    config = {"destinationURL": "http://127.0.0.1:9/x", "lrcCompliance": True, field: value + ending}
    r = emulator.http.post(
        CONNECTIONS, json={"connectorId": "actility-http-iot", "name": "c1", "configuration": config}
    )
    expect_error(r, 400, field)
    assert snapshot(emulator) == before


# --- the sink spec ---------------------------------------------------------------------------


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_sink_downlink_payload_with_a_trailing_character_is_400(
    emulator: InProcessEmulator, ending: str
) -> None:
    before = snapshot(emulator)
    body = {"name": "s1", "downlink": {"payload_hex": "0a" + ending, "FPort": 2}}
    expect_error(emulator.http.post("/_emulator/sinks", json=body), 400, "payload_hex")
    assert snapshot(emulator) == before
    assert emulator.http.get("/_emulator/sinks/s1").status_code == 404


# --- CLI arguments: exit 2, one line on stderr ---------------------------------------------------


def _one_error_line(r: Any, *words: str) -> None:
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and all(line.startswith(("error:", "hint:")) for line in lines), r.stderr
    assert "Traceback" not in r.stderr
    for word in words:
        assert word.lower() in errors[0].lower(), (word, errors[0])


CLI_CASES = [
    pytest.param(["device", "create", "abc{e}"], "device", id="device-id"),
    pytest.param(["bucket", "create", "b{e}"], "bucket", id="bucket-id"),
    pytest.param(
        ["connection", "create", "app", "--destination", "http://127.0.0.1:9/x", "--tiak", "ab" * 16 + "{e}"],
        "tiak",
        id="tiak",
    ),
    pytest.param(
        ["downlink", "send", "--connection", "c", "--deveui", DEVEUI, "--payload-hex", "01",
         "--correlation-id", "0a{e}"],
        "correlation",
        id="correlation-id",
    ),
    pytest.param(["fleet", "provision", "--count", "1", "--prefix", "sim{e}"], "prefix", id="fleet-prefix"),
    pytest.param(["send-uplink", "--device", "d1", "X-A{e}:v"], "header name", id="send-uplink-header"),
]  # fmt: skip


@pytest.mark.parametrize("ending", [pytest.param("\n", id="lf"), pytest.param("\r", id="cr")])
@pytest.mark.parametrize(("args", "word"), CLI_CASES)
def test_cli_arguments_with_a_trailing_newline_are_usage_errors(
    emulator: InProcessEmulator, cli: Cli, args: list[str], word: str, ending: str
) -> None:
    before = snapshot(emulator)
    _one_error_line(cli(*[a.replace("{e}", ending) for a in args]), word)
    assert snapshot(emulator) == before


# --- send-uplink header items ------------------------------------------------------------------


@pytest.mark.parametrize("ending", ["\n", "\r", " ", "\x00"])
def test_a_send_uplink_header_name_with_a_trailing_character_is_refused(ending: str) -> None:
    assert parse_items(["X-A:v"]).headers == [("X-A", "v")]
    with pytest.raises(UsageError, match="header name"):
        parse_items([f"X-A{ending}:v"])


# --- integers in the query and delivery ids: int() takes " 5\n", "+5", "5_0", "٥" -------------


@pytest.mark.parametrize("raw", ["5\n", " 5", "+5", "5_0", "\u0665", "\u00b2"])
@pytest.mark.parametrize("path", ["/_emulator/lorawan/downlinks", "/_emulator/deliveries"])
def test_a_query_integer_is_ascii_digits_only(emulator: InProcessEmulator, path: str, raw: str) -> None:
    assert emulator.http.get(path, params={"limit": "5"}).status_code == 200
    expect_error(emulator.http.get(path, params={"limit": raw}), 400, "limit")


@pytest.mark.parametrize("raw", ["1%0A", "%C2%B2", "%D9%A5"])
def test_a_delivery_id_is_ascii_digits_only(emulator: InProcessEmulator, raw: str) -> None:
    expect_error(emulator.http.get(f"/_emulator/deliveries/{raw}"), 400, "delivery id")
    assert emulator.http.get("/_emulator/deliveries/1").status_code == 404


@pytest.mark.parametrize("raw", ["5\n", " 1650000000000", "+1650000000000", "1_650_000_000_000", "\u0665"])
def test_a_callback_ts_query_is_ascii_digits_only(emulator: InProcessEmulator, raw: str) -> None:
    seed_thinger(emulator)
    path = f"/v1/users/{USER}/buckets/b1/data"
    before = snapshot(emulator)
    expect_error(emulator.http.post(path, params={"ts": raw}, json={"v": 1}), 400, "'ts'")
    assert snapshot(emulator) == before
    assert emulator.http.post(path, params={"ts": "1650000000000"}, json={"v": 1}).status_code == 200
