"""The connections and connectors API replaying the request bodies of the real documentation.

Every test names the file it replays (repository actility/tpx-iot-flow-doc unless said otherwise)
and checks the answer field by field.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from tests.harness import InProcessEmulator

BASE = "/iot-flow/v1"
STARTUP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")
DOCUMENTED_KEYS = {"id", "connectorId", "name", "active", "startupTime", "state", "configuration"}


def post(emu: InProcessEmulator, body: dict[str, Any]) -> Any:
    r = emu.http.post(f"{BASE}/connections", json=body)
    assert r.status_code == 201, r.text
    return r


def test_http_connector_page_example(emulator: InProcessEmulator) -> None:
    """docs/Connector/HTTP/README.md (and the seed): the "creation of a new connection instance" body."""
    body: dict[str, Any] = {
        "connectorId": "actility-http-iot",
        "name": "Test HTTP Connection",
        "configuration": {
            "headers": {"Authorization": "Bearer eg89a53sx!=", "X-Thing": "{DevEUI}", "X-Site": "BuildingA"},
            "destinationURL": "https://posthere.io/4b29-45f6-94tc",
        },
    }
    r = post(emulator, body)
    data = r.json()
    assert set(data) == DOCUMENTED_KEYS | {"downlinkUrl"}
    assert re.fullmatch(r"[1-9][0-9]*", data["id"])  # "id": "8" form
    assert r.headers["location"] == f"/connections/{data['id']}"
    assert data["connectorId"] == "actility-http-iot"
    assert data["name"] == "Test HTTP Connection"
    assert data["active"] is True
    assert data["state"] == "CLOSED"  # then OPENING, OPENED (test_iotflow_connections_states)
    assert STARTUP.match(data["startupTime"])
    cfg = data["configuration"]
    assert cfg["headers"] == body["configuration"]["headers"]  # a header value is not a secret field
    assert cfg["destinationURL"] == "https://posthere.io/4b29-45f6-94tc"
    # Defaults of the documented parameters: strictMode false, blamePeriod 30 (HTTP page),
    # createDevices true, downlinkEnabled true, reconnectStrategy NORMAL (About_connections.md).
    assert cfg["strictMode"] is False and cfg["blamePeriod"] == 30 and cfg["createDevices"] is True
    assert cfg["downlinkEnabled"] is True and cfg["reconnectStrategy"] == "NORMAL"
    assert cfg["sendMetadata"] is False and cfg["sendRawDecodedFormat"] is False
    # The downlink UUID is not the id (/iot-flow/downlinkMessages/<DownlinkUUID>).
    uuid = urlsplit(data["downlinkUrl"]).path.rsplit("/", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", uuid)
    # No warning: every key is documented.
    assert "warning" not in r.headers


def test_http_connector_page_lrc_example_with_string_port_and_no_tiak(emulator: InProcessEmulator) -> None:
    """docs/Connector/HTTP/README.md (current version): ``lrcCompliance: true`` without ``tiak`` and
    ``"downlinkPort": "1"``. The page says the TIAK is "a 32-hexadecimal digits key generated with a
    high entropy": the server generates it; the string port is coerced (Jackson)."""
    body = {
        "connectorId": "actility-http-iot",
        "name": "Test HTTP Connection",
        "configuration": {
            "headers": {"Authorization": "Bearer eg89a53sx!=", "X-Thing": "{DevEUI}", "X-Site": "BuildingA"},
            "destinationURL": "https://posthere.io/4b29-45f6-94tc",
            "lrcCompliance": True,
            "downlinkAsId": "TWA_199983788.1972.AS",
            "downlinkAsKey": "9311e22d7d44fc52215b0dc154aa1d22",
            "downlinkPort": "1",
        },
    }
    data = post(emulator, body).json()
    cfg = data["configuration"]
    assert cfg["lrcCompliance"] is True and cfg["downlinkPort"] == 1
    assert cfg["downlinkAsId"] == "TWA_199983788.1972.AS" and cfg["downlinkAsKey"] == "*****"
    assert re.fullmatch(r"[0-9a-f]{32}", cfg["tiak"])  # shown once, in this answer
    stored = emulator.emu.services["iotflow"].connections.cache[data["id"]].configuration
    assert stored["tiak"] == cfg["tiak"]
    shown = emulator.http.get(f"{BASE}/connections/{data['id']}").json()["configuration"]
    assert shown["tiak"] == "*****" and shown["downlinkPort"] == 1
    kinds = [e["kind"] for e in emulator.http.get("/_emulator/events", params={"kind": "connection"}).json()]
    assert "connection.tiak_generated" in kinds
    assert cfg["tiak"] not in emulator.http.get("/_emulator/events").text


def test_api_page_common_parameters_and_alarms(emulator: InProcessEmulator) -> None:
    """docs/Getting_Started/Setting_Up_A_Connection_instance/Creating_a_connection_instance_using_the_API.md:
    the POST body (its common parameters and alarms) on the HTTP connector. The AWS-only keys are
    unknown to the HTTP connector: stored, echoed as given, and warned about."""
    alarms = [
        {
            "startTime": "2019-01-31T09:00:00+01:00",
            "endTime": "2019-01-31T18:00:00+01:00",
            "timezone": "Europe/Paris",
            "recurrence": [
                {"frequency": "weekly", "byDays": ["monday", "tuesday", "wednesday", "thursday", "friday"]}
            ],
            "uplinkRateMinPerHour": 10,
            "message": "Low rate during business day...",
        }
    ]
    body: dict[str, Any] = {
        "connectorId": "actility-http-iot",
        "name": "Test AWS Connection",
        "active": True,
        "alarms": alarms,
        "configuration": {
            "destinationURL": "https://posthere.io/4b29-45f6-94tc",
            "description": "AWS Europe Datacenter",
            "createDevices": True,
            "sendMetadata": False,
            "sendRawDecodedFormat": True,
            "uplinkTimeValidity": "5m",
            "downlinkEnabled": False,
            "downlinkAsId": "TWA_199983788.1972.AS",
            "downlinkAsKey": "9311e33d7d44fc52215b0dc789aa1d22",
            "downlinkPort": 5,
            "uplinkTopicPattern": "tpx/things/{DevEUI}/uplink",
            "region": "eu-central-1",
        },
    }
    r = post(emulator, body)
    data = r.json()
    assert data["alarms"] == alarms and data["name"] == "Test AWS Connection" and data["active"] is True
    cfg = data["configuration"]
    for key in ("description", "createDevices", "sendMetadata", "sendRawDecodedFormat", "uplinkTimeValidity",
                "downlinkEnabled", "downlinkAsId", "downlinkPort", "uplinkTopicPattern", "region"):  # fmt: skip
        assert cfg[key] == body["configuration"][key], key
    assert cfg["downlinkAsKey"] == "*****"
    warning = r.headers["warning"]
    assert "configuration.uplinkTopicPattern" in warning and "configuration.region" in warning
    assert "description" not in warning
    (event,) = emulator.http.get("/_emulator/events", params={"kind": "connection.unknown_keys"}).json()
    assert event["keys"] == ["configuration.uplinkTopicPattern", "configuration.region"]
    # Another connector than HTTP: 400 naming it.
    r = emulator.http.post(f"{BASE}/connections", json={**body, "connectorId": "actility-aws-iot"})
    assert r.status_code == 400 and "actility-aws-iot" in r.json()["message"]


def test_blame_period_of_the_http_page(emulator: InProcessEmulator) -> None:
    """docs/Connector/HTTP/README.md (an earlier version): ``blamePeriod``, "Integer, in seconds"."""
    body: dict[str, Any] = {"connectorId": "actility-http-iot", "name": "b",
            "configuration": {"destinationURL": "http://127.0.0.1:9/x", "blamePeriod": "45"}}  # fmt: skip
    assert post(emulator, body).json()["configuration"]["blamePeriod"] == 45
    body["configuration"]["blamePeriod"] = "soon"
    r = emulator.http.post(f"{BASE}/connections", json=body)
    assert r.status_code == 400 and "configuration.blamePeriod" in r.json()["message"]


def test_top_level_fields_real_clients_send(emulator: InProcessEmulator) -> None:
    """Real clients send ``brand`` and ``contentType`` at the top level: stored and echoed, no warning."""
    body = {"connectorId": "actility-http-iot", "name": "c", "brand": "ACME", "contentType": "JSON",
            "configuration": {"destinationURL": "http://127.0.0.1:9/x"}}  # fmt: skip
    r = post(emulator, body)
    assert r.json()["brand"] == "ACME" and r.json()["contentType"] == "JSON" and "warning" not in r.headers
    shown = emulator.http.get(f"{BASE}/connections/{r.json()['id']}").json()
    assert shown["brand"] == "ACME" and shown["contentType"] == "JSON"


def test_get_connections_has_the_documented_shape(emulator: InProcessEmulator) -> None:
    """Creating_a_connection_instance_using_the_API.md, step 3: ``GET /connections`` lists objects with
    configuration, id, connectorId, name, active, startupTime, state; secrets as "*****"."""
    post(emulator, {"connectorId": "actility-http-iot", "name": "one",
                    "configuration": {"destinationURL": "http://127.0.0.1:9/x", "downlinkAsKey": "k"}})  # fmt: skip
    (item,) = emulator.http.get(f"{BASE}/connections").json()
    assert set(item) >= DOCUMENTED_KEYS
    assert item["id"] == "1" and item["state"] in ("CLOSED", "OPENING", "OPENED")
    assert item["configuration"]["downlinkAsKey"] == "*****"


def test_connectors_have_the_documented_fields(emulator: InProcessEmulator) -> None:
    """Creating_a_connection_instance_using_the_API.md, step 1: ``GET /connectors`` gives id, producerId,
    moduleId, version, description, connection.configurationSchema (a Jackson ``urn:jsonschema:`` id
    and properties) and flow."""
    (connector,) = emulator.http.get(f"{BASE}/connectors").json()
    assert set(connector) == {"id", "producerId", "moduleId", "version", "description", "connection", "flow"}
    assert connector["id"] == "actility-http-iot" and connector["producerId"] == "actility"
    assert connector["moduleId"] == "http-iot" and re.fullmatch(r"\d+\.\d+\.\d+", connector["version"])
    assert connector["flow"] == {}
    schema = connector["connection"]["configurationSchema"]
    assert schema["id"].startswith("urn:jsonschema:com:actility:tpx:flow:core:domain:connection:")
    documented = {
        # About_connections.md, common parameters
        "description", "createDevices", "sendMetadata", "sendRawDecodedFormat", "uplinkTimeValidity",
        "downlinkEnabled", "downlinkAsId", "downlinkAsKey", "downlinkPort", "reconnectStrategy",
        # docs/Connector/HTTP/README.md
        "headers", "destinationURL", "strictMode", "blamePeriod", "proxy", "lrcCompliance", "tiak",
    }  # fmt: skip
    assert documented <= set(schema["properties"])
    assert emulator.http.get(f"{BASE}/connectors/actility-http-iot").json() == connector


def test_a_put_without_tiak_keeps_the_generated_one(emulator: InProcessEmulator) -> None:
    """docs/Connector/HTTP/README.md: PUT takes the whole configuration again; a body without ``tiak``
    (as the page's example) keeps the key the application server already checks, instead of a new one."""
    body = {"connectorId": "actility-http-iot", "name": "lrc",
            "configuration": {"destinationURL": "http://127.0.0.1:9/x", "lrcCompliance": True}}  # fmt: skip
    created = post(emulator, body).json()
    tiak = created["configuration"]["tiak"]
    r = emulator.http.put(f"{BASE}/connections/{created['id']}", json=body)
    assert r.status_code == 200 and r.json()["configuration"]["tiak"] == "*****"
    assert emulator.emu.services["iotflow"].connections.cache[created["id"]].configuration["tiak"] == tiak
