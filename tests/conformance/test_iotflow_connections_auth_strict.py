"""Token endpoint client authentication, the legacy DX base path, and the two strictMode behaviours.

Sources: RFC 6749 section 2.3.1 (HTTP Basic client authentication, as OAuth2 clients of the real server
send it); actility/tpx-iot-flow-doc docs/Getting_Started/Getting_Started_ThingPark/README.md (client ids
"<instance>/<login>", e.g. ``fuota-labs-api/john.doe@actility.com``); real ThingPark clients calling
``<server>/thingpark/dx/core/latest/api/connections``; the seed's HTTP connector page (strictMode: 3 resends,
2 s apart) and the current docs/Connector/HTTP/README.md "Strict mode option" (the connection is CLOSED
and the retry strategy applied).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import pytest

from iotcli.emulator.settings import EmulatorSettings
from tests.emulator.iotflow_support import connect, deliveries, events, state, uplink
from tests.harness import TEST_TOKEN, TEST_USER, InProcessEmulator, Reply, Sink, run_cli

TOKEN_URL = "/iot-flow/v1/oauth/token"
DX = "/thingpark/dx/core/latest/api"


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_basic_client_authentication_gets_a_token(emulator: InProcessEmulator) -> None:
    r = emulator.anon(
        "POST", TOKEN_URL, data={"grant_type": "client_credentials"}, headers=basic(TEST_USER, TEST_TOKEN)
    )
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    assert r.json()["token_type"] == "bearer" and r.json()["expires_in"] > 0
    listed = emulator.anon("GET", "/iot-flow/v1/connections", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200


def test_form_credentials_and_the_instance_login_form_of_client_id(emulator: InProcessEmulator) -> None:
    for client_id in (TEST_USER, f"fuota-labs-api/{TEST_USER}"):
        r = emulator.anon(
            "POST",
            TOKEN_URL,
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": TEST_TOKEN},
        )
        assert r.status_code == 200, (client_id, r.text)


def test_bad_basic_credentials_are_401_with_www_authenticate(emulator: InProcessEmulator) -> None:
    r = emulator.anon(
        "POST", TOKEN_URL, data={"grant_type": "client_credentials"}, headers=basic(TEST_USER, "wrong")
    )
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    assert set(r.json()) == {"code", "message"}


@pytest.mark.parametrize(
    ("headers", "form", "named"),
    [
        ({"Authorization": "Basic !!!"}, {}, "base64"),
        ({"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, {}, "client_id:client_secret"),
        (basic(TEST_USER, TEST_TOKEN), {"client_secret": TEST_TOKEN}, "use one method"),
        (basic(TEST_USER, TEST_TOKEN), {"client_id": "someone-else"}, "client_id"),
        ({}, {"client_id": TEST_USER}, "client_secret"),
    ],
)
def test_malformed_client_authentication_is_400(
    emulator: InProcessEmulator, headers: dict[str, str], form: dict[str, str], named: str
) -> None:
    r = emulator.anon("POST", TOKEN_URL, data={"grant_type": "client_credentials", **form}, headers=headers)
    assert r.status_code == 400 and named in r.json()["message"]


def test_the_legacy_dx_path_serves_the_same_connections(emulator: InProcessEmulator) -> None:
    body = {"connectorId": "actility-http-iot", "name": "dx",
            "configuration": {"destinationURL": "http://127.0.0.1:9/x"}}  # fmt: skip
    r = emulator.http.post(f"{DX}/connections", json=body)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert emulator.http.get(f"/iot-flow/v1/connections/{cid}").json()["name"] == "dx"
    assert [c["id"] for c in emulator.http.get(f"{DX}/connections").json()] == [cid]
    r = emulator.http.put(f"{DX}/connections/{cid}", json={**body, "name": "renamed"})
    assert r.status_code == 200 and emulator.http.get(f"{DX}/connections/{cid}").json()["name"] == "renamed"
    assert emulator.anon("GET", f"{DX}/connections").status_code == 401
    assert emulator.http.delete(f"{DX}/connections/{cid}").status_code == 204
    assert emulator.http.get(f"/iot-flow/v1/connections/{cid}").status_code == 404


def strict_emulator(mode: str) -> Iterator[InProcessEmulator]:
    settings = EmulatorSettings(data_dir=None, token=TEST_TOKEN, user=TEST_USER, time_scale=0.01)
    settings.strict_mode = mode
    with InProcessEmulator(settings) as emu:
        yield emu


@pytest.fixture
def resend_emulator() -> Iterator[InProcessEmulator]:
    yield from strict_emulator("resend")


@pytest.fixture
def reconnect_emulator() -> Iterator[InProcessEmulator]:
    yield from strict_emulator("reconnect")


def test_strict_mode_resend_is_the_default(resend_emulator: InProcessEmulator) -> None:
    emu = resend_emulator
    with Sink(default=Reply(503)) as sink:
        cid = connect(emu, sink.url, strictMode=True)
        uplink(emu)
        assert len(sink.wait_for(4)) == 4  # the first try and 3 resends
        deadline = time.monotonic() + 5
        while deliveries(emu, connection=cid)[0]["status"] != "failed" and time.monotonic() < deadline:
            time.sleep(0.01)
        row = deliveries(emu, connection=cid)[0]
        assert row["status"] == "failed" and row["attempts"] == 4
        assert state(emu, cid) == "OPENED"  # it answered: the connection stays up


def test_strict_mode_reconnect_closes_and_resends_on_the_reconnect_strategy(
    reconnect_emulator: InProcessEmulator,
) -> None:
    emu = reconnect_emulator
    with Sink([503], default=200) as sink:
        cid = connect(emu, sink.url, strictMode=True, reconnectStrategy="AGGRESSIVE")
        uplink(emu)
        sink.wait_for(1)
        deadline = time.monotonic() + 5
        while state(emu, cid) != "CLOSED" and time.monotonic() < deadline:
            time.sleep(0.01)
        closed = [e for e in events(emu, "connection.state") if e["state"] == "CLOSED"]
        assert closed and "503" in closed[-1]["reason"]
        row = deliveries(emu, connection=cid)[0]
        assert row["status"] == "pending" and "reconnect" in row["reason"]
        assert len(sink.requests) == 1  # no resend 2 s later
        emu.advance(180)  # AGGRESSIVE: the next attempt 3 min after closing
        assert len(sink.wait_for(2)) == 2
        deadline = time.monotonic() + 5
        while state(emu, cid) != "OPENED" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert state(emu, cid) == "OPENED"
        assert deliveries(emu, connection=cid)[0]["status"] == "delivered"


def test_reconnect_mode_leaves_non_strict_connections_alone(reconnect_emulator: InProcessEmulator) -> None:
    emu = reconnect_emulator
    with Sink(default=Reply(500)) as sink:
        cid = connect(emu, sink.url)
        uplink(emu)
        sink.wait_for(1)
        emu.wait_idle()
        assert deliveries(emu, connection=cid)[0]["status"] == "dropped" and state(emu, cid) == "OPENED"


def test_emulate_rejects_an_unknown_strict_mode() -> None:
    r = run_cli(["emulate", "--in-memory", "--port", "0", "--strict-mode", "sometimes"])
    assert r.exit_code == 2 and "--strict-mode 'sometimes' must be resend or reconnect" in r.stderr
