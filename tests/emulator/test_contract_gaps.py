"""Contract rows no other test checked: kept account token, IoT Flow alarms, OAuth client checks,
non-writable buckets, call_endpoint off the request path."""

from __future__ import annotations

import stat
import time
from pathlib import Path
from typing import Any

import pytest

from iotcli.emulator.settings import EmulatorSettings
from tests.emulator.thinger_helpers import (
    V3,
    U,
    create_bucket,
    create_device,
    create_endpoint,
    error,
    post_data,
    records,
    set_callback,
)
from tests.harness import TEST_TOKEN, InProcessEmulator, Reply, Sink

BASE = "/iot-flow/v1"


# -- 1. a generated account token is kept in the data dir ---------------------------------------


def started_token(data_dir: Path) -> str:
    """Start an emulator on ``data_dir`` without --token; return its account token (checked to work)."""
    with InProcessEmulator(EmulatorSettings(data_dir=data_dir, token=None)) as emu:
        token = emu.emu.account_token
        assert isinstance(token, str) and len(token) >= 16
        r = emu.anon("GET", "/_emulator/clock", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        return token


def test_generated_account_token_is_reused_on_the_next_start(tmp_path: Path) -> None:
    data = tmp_path / "emu"
    first = started_token(data)
    assert started_token(data) == first
    # Kept in the data dir, readable only by its owner.
    kept = [p for p in data.iterdir() if p.is_file() and first in p.read_text(errors="replace")]
    assert kept, "the token is not kept in the data dir"
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in kept)
    # Another data dir gets another token: it is generated, not fixed.
    assert started_token(tmp_path / "other") != first


# -- 2. IoT Flow connection alarms are stored as given -------------------------------------------


def connection_body(alarms: Any) -> dict[str, Any]:
    return {
        "connectorId": "actility-http-iot",
        "name": "app",
        "alarms": alarms,
        "configuration": {"destinationURL": "http://127.0.0.1:9/up"},
    }


def test_connection_alarms_are_stored_as_given(emulator: InProcessEmulator) -> None:
    alarms = [{"x": 1}]
    r = emulator.http.post(f"{BASE}/connections", json=connection_body(alarms))
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["alarms"] == alarms
    cid = created["id"]

    got = emulator.http.get(f"{BASE}/connections/{cid}")
    assert got.status_code == 200 and got.json()["alarms"] == alarms
    listed = {c["id"]: c for c in emulator.http.get(f"{BASE}/connections").json()}
    assert listed[cid]["alarms"] == alarms

    # A GET answer sent back keeps them.
    r = emulator.http.put(f"{BASE}/connections/{cid}", json=got.json())
    assert r.status_code == 200, r.text
    assert r.json()["alarms"] == alarms
    assert emulator.http.get(f"{BASE}/connections/{cid}").json()["alarms"] == alarms

    # A PUT with other alarms stores those, as given.
    other = [{"x": 1, "nested": {"level": "major", "codes": [1, 2]}}, {"y": None}]
    r = emulator.http.put(f"{BASE}/connections/{cid}", json=connection_body(other))
    assert r.status_code == 200, r.text
    assert r.json()["alarms"] == other
    assert emulator.http.get(f"{BASE}/connections/{cid}").json()["alarms"] == other


# -- 3. OAuth: the client id / username must match too ------------------------------------------


def test_iotflow_token_answer_has_exactly_the_contract_keys(emulator: InProcessEmulator) -> None:
    form = {"grant_type": "client_credentials", "client_id": "local", "client_secret": TEST_TOKEN}
    r = emulator.anon("POST", f"{BASE}/oauth/token", data=form)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "bearer"


def test_thinger_token_answer_has_exactly_the_contract_keys(emulator: InProcessEmulator) -> None:
    form = {"grant_type": "password", "username": "local", "password": TEST_TOKEN}
    r = emulator.anon("POST", "/oauth/token", data=form)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"access_token", "expires_in", "refresh_token", "scope", "token_type"}
    assert body["token_type"] == "bearer"


@pytest.mark.parametrize("client_id", ["other", "LOCAL", ""])
def test_iotflow_wrong_client_id_with_the_right_secret_is_401(
    emulator: InProcessEmulator, client_id: str
) -> None:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": TEST_TOKEN}
    r = emulator.anon("POST", f"{BASE}/oauth/token", data=form)
    # An empty client_id may be refused as a missing field (400); it must never get a token.
    expected = {401} if client_id else {400, 401}
    assert r.status_code in expected, r.text
    assert "access_token" not in r.text
    assert set(r.json()) == {"code", "message"}


@pytest.mark.parametrize("username", ["other", "LOCAL", ""])
def test_thinger_wrong_username_with_the_right_password_is_401(
    emulator: InProcessEmulator, username: str
) -> None:
    form = {"grant_type": "password", "username": username, "password": TEST_TOKEN}
    r = emulator.anon("POST", "/oauth/token", data=form)
    expected = {401} if username else {400, 401}
    assert r.status_code in expected, r.text
    assert "access_token" not in r.text
    assert set(r.json()) == {"error"}


# -- 4. only api and write buckets take data ----------------------------------------------------

DEVICE_SOURCE = {"source": "device", "device": "d1", "resource": "temp", "update": "interval", "interval": 60}


@pytest.mark.parametrize(
    "config",
    [DEVICE_SOURCE, {"source": "device", "device": "d1", "resource": "temp", "update": "events"}],
)
def test_device_source_bucket_refuses_writes(emulator: InProcessEmulator, config: dict[str, Any]) -> None:
    create_device(emulator, "d1")
    created = create_bucket(emulator, "db", config=config)
    assert created["config"]["source"] == "device"

    r = emulator.http.post(f"{U}/buckets/db/data", json={"temp": 21})
    assert r.status_code == 400, r.text
    assert "device" in error(r)
    assert records(emulator, "db") == []

    r = emulator.http.put(f"{V3}/devices/d1/callback", json={"actions": {"write_bucket": "db"}})
    assert r.status_code == 400, r.text
    message = error(r)
    assert "write_bucket" in message and "db" in message
    actions = emulator.http.get(f"{V3}/devices/d1/callback").json().get("actions", {})
    assert actions.get("write_bucket") in (None, "")


@pytest.mark.parametrize("source", ["api", "write"])
def test_api_and_write_buckets_take_writes(emulator: InProcessEmulator, source: str) -> None:
    create_device(emulator, "d1")
    create_bucket(emulator, "wb", config={"source": source})
    r = emulator.http.post(f"{U}/buckets/wb/data", json={"ts": 1000, "temp": 21})
    assert r.status_code == 200, r.text
    set_callback(emulator, write_bucket="wb")
    assert post_data(emulator, {"ts": 2000, "temp": 22}).status_code == 200
    assert [rec["ts"] for rec in records(emulator, "wb", sort="asc")] == [1000, 2000]


# -- 5. call_endpoint runs off the request path -------------------------------------------------


def test_call_endpoint_does_not_hold_the_callback_request(emulator: InProcessEmulator) -> None:
    with Sink(default=Reply(200, delay=1.0)) as sink:
        create_device(emulator, "d1")
        create_endpoint(emulator, "slow", {"url": sink.url + "/hook", "method": "POST", "body_type": "json"})
        set_callback(emulator, call_endpoint="slow")

        start = time.monotonic()
        statuses = [post_data(emulator, {"n": n}).status_code for n in range(5)]
        elapsed = time.monotonic() - start
        assert statuses == [200] * 5
        assert elapsed < 0.9, f"five callbacks took {elapsed:.2f}s with a 1 s endpoint"

        got = sink.wait_for(5, timeout=15)
        assert sorted(req.json()["n"] for req in got) == [0, 1, 2, 3, 4]
        emulator.wait_idle(15)
        done = emulator.http.get("/_emulator/deliveries", params={"device": "d1"}).json()
        assert len(done) == 5 and {d["status"] for d in done} == {"delivered"}
