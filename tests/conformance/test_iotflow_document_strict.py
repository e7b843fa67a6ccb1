"""The OpenAPI document of the IoT Flow operations is exactly as strict as their checks (issue 11, ST202).

What the document calls valid is taken, and what the emulator refuses the document refuses too:
connection headers (names an RFC 9110 token, values tab + printable Latin-1), URLs and proxy host
names (white space as both Python and ECMA-262 read ``\\s``, no final newline), integers that JSON
writes ``115.0``, the LRC tunnel's query (``AS_ID`` required), and a ``DevEUI_downlink`` body.

Sources: actility/tpx-iot-flow-doc docs/Connector/HTTP/README.md (the connection example: headers
``Authorization``, ``X-Thing: {DevEUI}``), docs/Message/Downlink_Message/README.md (the two
``DevEUI_downlink`` examples, tests/data/iotflow/), actility/thingpark-integrations
1_tpNS-AS/AS_python_example/send_downlink_with_token.py (the tunnel's query).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from iotcli.emulator.app import route_tables
from iotcli.emulator.openapi import build_openapi
from tests.emulator.iotflow_support import DEVEUI
from tests.harness import InProcessEmulator

DATA = Path(__file__).resolve().parents[1] / "data" / "iotflow"
CONNECTIONS = "/iot-flow/v1/connections"


def operation(method: str, path: str) -> dict[str, Any]:
    op: dict[str, Any] = build_openapi(route_tables())["paths"][path][method]
    return op


def body_validator(method: str, path: str) -> Draft202012Validator:
    schema = operation(method, path)["requestBody"]["content"]["application/json"]["schema"]
    return Draft202012Validator(schema)


def connection(headers: dict[str, str] | None = None, **config: Any) -> dict[str, Any]:
    configuration: dict[str, Any] = {"destinationURL": "http://127.0.0.1:9/up", **config}
    if headers is not None:
        configuration["headers"] = headers
    return {"connectorId": "actility-http-iot", "name": "c1", "configuration": configuration}


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(connection({"X-A": "v\n"}), id="value-final-lf"),
        pytest.param(connection({"X-A": "a\x00b"}), id="value-nul"),
        pytest.param(connection({"X-A": "a\x11"}), id="value-control"),
        pytest.param(connection({"X-A": "a\x7f"}), id="value-del"),
        pytest.param(connection({"X-A": "price \u20ac"}), id="value-non-latin-1"),
        pytest.param(connection({"X-A\n": "v"}), id="name-final-lf"),
        pytest.param(connection({"X A": "v"}), id="name-space"),
        pytest.param(connection(destinationURL="https://h\x1d/x"), id="url-python-space"),
        pytest.param(connection(destinationURL="http://h/x\n"), id="url-final-lf"),
        pytest.param(connection(destinationURL="http://\ufeffh/"), id="url-ecma-space"),
        pytest.param(connection(proxy={"hostname": "p\x1c"}), id="proxy-space"),
        pytest.param(connection(blamePeriod=2**31), id="blame-period-beyond-int"),
    ],
)
def test_what_the_connections_api_refuses_the_document_refuses(
    emulator: InProcessEmulator, given: dict[str, Any]
) -> None:
    assert emulator.http.post(CONNECTIONS, json=given).status_code == 400
    for method, path in (("post", CONNECTIONS), ("post", "/thingpark/dx/core/latest/api/connections")):
        assert not body_validator(method, path).is_valid(given)
    configuration = emulator.http.get("/iot-flow/v1/connectors/actility-http-iot").json()["connection"]
    assert not Draft202012Validator(configuration["configurationSchema"]).is_valid(given["configuration"])


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(
            connection({"Authorization": "Bearer eg89a53sx!=", "X-Thing": "{DevEUI}", "X-Site": "BuildingA"}),
            id="docs-example",
        ),
        pytest.param(connection({"X-A": "ok\tvalue \u00e9"}), id="tab-and-latin-1"),
        pytest.param(connection({}, destinationURL="https://posthere.io/4b29-45f6-94tc"), id="docs-url"),
        pytest.param(connection(proxy={"hostname": "https://mycompany/", "username": "u"}), id="docs-proxy"),
        pytest.param(connection(blamePeriod=2**31 - 1), id="blame-period-max"),
    ],
)
def test_what_the_document_takes_the_connections_api_takes(
    emulator: InProcessEmulator, given: dict[str, Any]
) -> None:
    assert body_validator("post", CONNECTIONS).is_valid(given)
    r = emulator.http.post(CONNECTIONS, json=given)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert emulator.http.put(f"{CONNECTIONS}/{cid}", json=given).status_code == 200


def test_the_bad_value_message_says_what_is_wrong(emulator: InProcessEmulator) -> None:
    r = emulator.http.post(CONNECTIONS, json=connection({"X-A": "a\rb"}))
    assert r.status_code == 400
    assert "'X-A'" in r.json()["message"] and "control character" in r.json()["message"]


def test_json_integers_written_with_a_fraction_are_integers(emulator: InProcessEmulator) -> None:
    """``115.0`` is an integer to JSON Schema (the document types FPort and FCntUp ``integer``)."""
    r = emulator.http.post(
        "/_emulator/lorawan/uplinks",
        json={"DevEUI": DEVEUI, "FPort": 115.0, "payload_hex": "01", "DevEUI_uplink": {"FCntUp": 21700.0}},
    )
    assert r.status_code == 202, r.text
    assert r.json()["FCntUp"] == 21700 and isinstance(r.json()["FCntUp"], int)
    events = emulator.http.get("/_emulator/events", params={"kind": "uplink.received"}).json()
    assert [(e["FPort"], e["FCntUp"]) for e in events][-1] == (115, 21700)


@pytest.mark.parametrize("fport", ["\u00b2", "\u0661"])
def test_digits_int_cannot_read_are_a_400_not_a_500(emulator: InProcessEmulator, fport: str) -> None:
    r = emulator.http.post(
        "/_emulator/lorawan/uplinks", json={"DevEUI": DEVEUI, "FPort": fport, "payload_hex": ""}
    )
    assert r.status_code == 400 and "FPort" in r.json()["error"]["message"]


def test_the_uplink_document_refuses_what_the_ingress_refuses() -> None:
    validator = body_validator("post", "/_emulator/lorawan/uplinks")
    assert validator.is_valid({"DevEUI": "00-18-B2-00-00-00-0B-20", "FPort": 1, "payload_hex": "01"})
    assert validator.is_valid({"DevEUI": DEVEUI, "FPort": 1, "payload": {"t": 1}})
    for bad in (
        {"DevEUI": "", "FPort": 1, "payload_hex": "01"},
        {"DevEUI": DEVEUI + "\n", "FPort": 1, "payload_hex": "01"},
        {"DevEUI": DEVEUI, "FPort": 1},
        {"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "00" * 243},
        {"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "01", "DevEUI_uplink": {"FCntUp": -1}},
    ):
        assert not validator.is_valid(bad), bad


def test_the_downlink_messages_body_is_documented_and_takes_the_docs_examples() -> None:
    validator = body_validator("post", "/iot-flow/downlinkMessages/{uuid}")
    for name in ("DevEUI_downlink.json", "DevEUI_downlink.2.json", "downlink_frame.json"):
        example = json.loads((DATA / name).read_text())
        assert validator.is_valid(example), name
    assert not validator.is_valid({})
    assert not validator.is_valid({"DevEUI_downlink": {"DevEUI": DEVEUI, "FPort": 1}})  # no payload
    assert not validator.is_valid({"DevEUI_downlink": {"DevEUI": DEVEUI, "payload_hex": "01", "Colour": 1}})


def test_the_downlink_examples_are_queued_as_the_document_says(emulator: InProcessEmulator) -> None:
    """Every example the downlink document takes, the downlinkUrl takes (202)."""
    r = emulator.http.post(CONNECTIONS, json=connection())
    assert r.status_code == 201, r.text
    path = "/iot-flow/downlinkMessages/" + r.json()["downlinkUrl"].rsplit("/", 1)[1]
    validator = body_validator("post", "/iot-flow/downlinkMessages/{uuid}")
    for name in ("DevEUI_downlink.json", "DevEUI_downlink.2.json", "downlink_frame.json"):
        example = json.loads((DATA / name).read_text())
        assert validator.is_valid(example)
        r = emulator.anon("POST", path, json=example)
        assert r.status_code == 202, (name, r.text)


#: The query of thingpark-integrations 1_tpNS-AS/curl_script_examples/send_downlink.sh, decoded.
CURL_EXAMPLE = {
    "DevEUI": "000000000F1D8693",
    "FPort": "1",
    "Payload": "00",
    "AS_ID": "app1.sample.com",
    "Time": "2016-01-11T14:28:00.333+02:00",
    "Token": "ea8f31d2299cbece8e180a3012766c4df15fe3cf2e142d9fdf4035b5894ec886",
}


def test_the_tunnel_document_takes_the_curl_example() -> None:
    params = {p["name"]: p for p in operation("post", "/thingpark/lrc/rest/downlink")["parameters"]}
    for name, value in CURL_EXAMPLE.items():
        schema = params[name]["schema"]
        given: object = int(value) if schema.get("type") == "integer" else value
        assert Draft202012Validator(schema).is_valid(given), name


def test_the_tunnel_query_requires_as_id_as_the_emulator_does(emulator: InProcessEmulator) -> None:
    params = {p["name"]: p for p in operation("post", "/thingpark/lrc/rest/downlink")["parameters"]}
    assert params["AS_ID"]["required"] is True and params["AS_ID"]["schema"]["minLength"] == 1
    assert all(not p["required"] for name, p in params.items() if name != "AS_ID")
    assert params["FPort"]["schema"]["type"] == "integer"
    r = emulator.anon("POST", "/thingpark/lrc/rest/downlink?DevEUI=" + DEVEUI + "&FPort=1&Payload=01")
    assert r.status_code == 400 and "AS_ID" in r.json()["message"]
    # Any AS_ID the document takes is not a 400: no connection has it (409).
    r = emulator.anon("POST", "/thingpark/lrc/rest/downlink?AS_ID=%20")
    assert r.status_code == 409, r.text
