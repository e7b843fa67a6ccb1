"""IoT Flow connections API: create, list, read, replace, delete, connectors, validation, masking, auth."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest

from tests.harness import TEST_TOKEN, InProcessEmulator

BASE = "/iot-flow/v1"


def body(**config: Any) -> dict[str, Any]:
    configuration = {"destinationURL": "http://127.0.0.1:9/up", **config}
    return {
        "connectorId": "actility-http-iot",
        "name": "Test HTTP Connection",
        "configuration": configuration,
    }


def create(emulator: InProcessEmulator, **config: Any) -> dict[str, Any]:
    r = emulator.http.post(f"{BASE}/connections", json=body(**config))
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def test_create_answers_201_with_location_and_the_connection(emulator: InProcessEmulator) -> None:
    seed_example = {
        "connectorId": "actility-http-iot",
        "name": "Test HTTP Connection",
        "configuration": {
            "headers": {"Authorization": "Bearer eg89a53sx!=", "X-Thing": "{DevEUI}", "X-Site": "BuildingA"},
            "destinationURL": "https://posthere.io/4b29-45f6-94tc",
        },
    }
    r = emulator.http.post(f"{BASE}/connections", json=seed_example)
    assert r.status_code == 201
    data = r.json()
    documented = {"id", "connectorId", "name", "active", "startupTime", "state", "configuration"}
    assert set(data) == documented | {"downlinkUrl"}
    assert r.headers["location"] == f"/connections/{data['id']}"
    # A new connection starts CLOSED (then OPENING, OPENED: see tests/conformance).
    assert data["connectorId"] == "actility-http-iot" and data["active"] is True and data["state"] == "CLOSED"
    assert data["configuration"]["headers"]["X-Thing"] == "{DevEUI}"
    assert (
        data["configuration"]["strictMode"] is False
        and data["configuration"]["reconnectStrategy"] == "NORMAL"
    )
    assert data["startupTime"].endswith("+00:00")


def test_list_and_show_mask_secrets(emulator: InProcessEmulator) -> None:
    created = create(
        emulator,
        lrcCompliance=True,
        tiak="bec499c69e9c939e413b663961636c61",
        downlinkAsId="as-1",
        downlinkAsKey="secret-key",
        proxy={"hostname": "proxy.local:3128", "username": "u", "password": "p4ss"},
    )
    for data in (created, emulator.http.get(f"{BASE}/connections/{created['id']}").json()):
        cfg = data["configuration"]
        assert (
            cfg["tiak"] == "*****" and cfg["downlinkAsKey"] == "*****" and cfg["proxy"]["password"] == "*****"
        )
        assert cfg["proxy"]["username"] == "u" and cfg["downlinkAsId"] == "as-1"
    listed = emulator.http.get(f"{BASE}/connections").json()
    assert [c["id"] for c in listed] == [created["id"]]
    assert "p4ss" not in emulator.http.get(f"{BASE}/connections").text


def test_put_replaces_the_whole_connection_and_keeps_masked_secrets(emulator: InProcessEmulator) -> None:
    created = create(emulator, lrcCompliance=True, tiak="a" * 32, headers={"X-A": "1"}, strictMode=True)
    new = body(lrcCompliance=True, tiak="*****", destinationURL="http://127.0.0.1:9/other")
    new["name"] = "renamed"
    r = emulator.http.put(f"{BASE}/connections/{created['id']}", json=new)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["name"] == "renamed" and data["configuration"]["destinationURL"].endswith("/other")
    # Whole replacement: what was not sent again is gone (back to defaults).
    assert data["configuration"]["headers"] == {} and data["configuration"]["strictMode"] is False
    stored = emulator.emu.services["iotflow"].connections.cache[created["id"]].configuration
    assert stored["tiak"] == "a" * 32


def test_put_accepts_a_get_answer_sent_back(emulator: InProcessEmulator) -> None:
    created = create(emulator, downlinkAsKey="k3y")
    r = emulator.http.put(f"{BASE}/connections/{created['id']}", json=created)
    assert r.status_code == 200, r.text
    stored = emulator.emu.services["iotflow"].connections.cache[created["id"]].configuration
    # Kept as given (the LRC tunnel needs the key itself), and '*****' (as a GET shows it) kept it.
    assert stored["downlinkAsKey"] == "k3y"


def test_the_downlink_as_key_is_checked_against_its_hash_and_a_new_one_replaces_it(
    emulator: InProcessEmulator,
) -> None:
    created = create(emulator, downlinkAsId="as1", downlinkAsKey="k3y")
    url = urlsplit(created["downlinkUrl"]).path

    def downlink(as_key: str) -> int:
        body = {"DevEUI_downlink": {"DevEUI": "0018B20000000B20", "FPort": 2, "payload_hex": "01",
                                    "AS_ID": "as1", "AS_KEY": as_key}}  # fmt: skip
        return emulator.anon("POST", url, json=body).status_code

    assert (downlink("k3y"), downlink("wrong"), downlink(stored_hash("k3y"))) == (202, 401, 401)
    changed = {**created, "configuration": {**created["configuration"], "downlinkAsKey": "n3w"}}
    assert emulator.http.put(f"{BASE}/connections/{created['id']}", json=changed).status_code == 200
    assert (downlink("n3w"), downlink("k3y")) == (202, 401)


def stored_hash(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@pytest.mark.parametrize(
    ("partial", "field"),
    [
        ({"name": "x"}, "connectorId"),
        ({"connectorId": "actility-http-iot", "name": "x"}, "configuration"),
        ({"connectorId": "actility-http-iot", "configuration": {"destinationURL": "http://a"}}, "name"),
        (
            {"connectorId": "actility-http-iot", "name": "x", "configuration": {"headers": {}}},
            "destinationURL",
        ),
    ],
)
def test_put_with_a_partial_body_is_400(
    emulator: InProcessEmulator, partial: dict[str, Any], field: str
) -> None:
    created = create(emulator)
    r = emulator.http.put(f"{BASE}/connections/{created['id']}", json=partial)
    assert r.status_code == 400
    assert field in r.json()["message"] and r.json()["code"] == "BAD_REQUEST"


def test_put_mask_without_stored_secret_is_400(emulator: InProcessEmulator) -> None:
    created = create(emulator)
    r = emulator.http.put(f"{BASE}/connections/{created['id']}", json=body(downlinkAsKey="*****"))
    assert r.status_code == 400 and "downlinkAsKey" in r.json()["message"]


def test_delete_204_then_404(emulator: InProcessEmulator) -> None:
    created = create(emulator)
    assert emulator.http.delete(f"{BASE}/connections/{created['id']}").status_code == 204
    r = emulator.http.delete(f"{BASE}/connections/{created['id']}")
    assert r.status_code == 404 and set(r.json()) == {"code", "message"}
    assert emulator.http.get(f"{BASE}/connections/{created['id']}").status_code == 404
    assert emulator.http.put(f"{BASE}/connections/{created['id']}", json=body()).status_code == 404


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"connectorId": "actility-mqtt-iot"}, "actility-mqtt-iot"),
        ({"configuration": {"destinationURL": "ftp://x"}}, "destinationURL"),
        ({"configuration": {"destinationURL": "http://x", "strictMode": "yes"}}, "strictMode"),
        ({"configuration": {"destinationURL": "http://x", "tiak": "abc"}}, "tiak"),
        ({"configuration": {"destinationURL": "http://x", "reconnectStrategy": "FAST"}}, "reconnectStrategy"),
        ({"configuration": {"destinationURL": "http://x", "downlinkPort": 0}}, "downlinkPort"),
        (
            {"configuration": {"destinationURL": "http://x", "uplinkTimeValidity": "5 minutes"}},
            "uplinkTimeValidity",
        ),
        ({"configuration": {"destinationURL": "http://x", "headers": {"Bad Name": "v"}}}, "Bad Name"),
        ({"configuration": {"destinationURL": "http://x", "proxy": {"username": "u"}}}, "proxy.hostname"),
        ({"active": "no"}, "active"),
        ({"configuration": {"destinationURL": "http://x", "headers": {"X": {"a": 1}}}}, "headers.X"),
        ({"configuration": {"destinationURL": "http://x", "downlinkPort": "one"}}, "downlinkPort"),
    ],
)
def test_invalid_bodies_are_400_naming_the_field(
    emulator: InProcessEmulator, override: dict[str, Any], named: str
) -> None:
    data = {**body(), **override}
    r = emulator.http.post(f"{BASE}/connections", json=data)
    assert r.status_code == 400, r.text
    assert named in r.json()["message"]


def test_not_json_is_400(emulator: InProcessEmulator) -> None:
    r = emulator.http.post(
        f"{BASE}/connections", content=b"nope", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and "JSON" in r.json()["message"]


def test_connectors_publish_the_schema_that_validates(emulator: InProcessEmulator) -> None:
    r = emulator.http.get(f"{BASE}/connectors")
    assert r.status_code == 200
    (connector,) = r.json()
    assert connector["id"] == "actility-http-iot"
    schema = connector["connection"]["configurationSchema"]
    validator = jsonschema.Draft202012Validator(schema)
    good = {"destinationURL": "https://a.example/x", "strictMode": True, "reconnectStrategy": "CALM"}
    bad = {"destinationURL": "ftp://a.example/x"}
    assert validator.is_valid(good) and not validator.is_valid(bad)
    # The emulator agrees with the published schema on both.
    assert (
        emulator.http.post(f"{BASE}/connections", json={**body(), "configuration": good}).status_code == 201
    )
    assert emulator.http.post(f"{BASE}/connections", json={**body(), "configuration": bad}).status_code == 400
    for key in (
        "destinationURL",
        "headers",
        "strictMode",
        "proxy",
        "lrcCompliance",
        "tiak",
        "sendMetadata",
        "sendRawDecodedFormat",
        "uplinkTimeValidity",
        "downlinkEnabled",
        "downlinkAsId",
        "downlinkAsKey",
        "downlinkPort",
        "reconnectStrategy",
        "description",
    ):
        assert key in schema["properties"]


def test_inactive_connection_is_deactivated(emulator: InProcessEmulator) -> None:
    r = emulator.http.post(f"{BASE}/connections", json={**body(), "active": False})
    assert r.status_code == 201 and r.json()["state"] == "DEACTIVATED" and r.json()["active"] is False
    reactivated = {**body(), "active": True}
    r = emulator.http.put(f"{BASE}/connections/{r.json()['id']}", json=reactivated)
    assert r.json()["state"] == "CLOSED"
    kinds = [e["kind"] for e in emulator.http.get("/_emulator/events?kind=connection").json()]
    assert kinds[:3] == ["connection.created", "connection.updated", "connection.state"]


def test_auth_account_token_or_iotflow_oauth_token(emulator: InProcessEmulator) -> None:
    assert emulator.anon("GET", f"{BASE}/connections").status_code == 401
    r = emulator.anon("GET", f"{BASE}/connections", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401 and set(r.json()) == {"code", "message"}
    tok = emulator.anon(
        "POST",
        f"{BASE}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "local", "client_secret": TEST_TOKEN},
    ).json()
    auth = {"Authorization": f"Bearer {tok['access_token']}"}
    r = emulator.anon("POST", f"{BASE}/connections", json=body(), headers=auth)
    assert r.status_code == 201
    emulator.advance(tok["expires_in"] + 1)
    assert emulator.anon("GET", f"{BASE}/connections", headers=auth).status_code == 401


def test_state_survives_a_restart(tmp_path: Any) -> None:
    from iotcli.emulator.settings import EmulatorSettings

    settings = EmulatorSettings(data_dir=tmp_path, token=TEST_TOKEN)
    with InProcessEmulator(settings) as emu:
        created = create(emu, downlinkAsKey="kept")
    with InProcessEmulator(settings) as emu:
        data = emu.http.get(f"{BASE}/connections/{created['id']}").json()
        assert data["name"] == created["name"] and data["configuration"]["downlinkAsKey"] == "*****"
