"""Thinger surface: devices, stats and device tokens."""

from __future__ import annotations

import pytest

from tests.emulator.thinger_helpers import (
    V3,
    U,
    create_bucket,
    create_device,
    device_token,
    error,
    post_data,
    set_callback,
)
from tests.harness import InProcessEmulator

DEVICE_KEYS = {
    "device",
    "name",
    "description",
    "type",
    "enabled",
    "asset_type",
    "asset_group",
    "product",
    "created",
    "modified",
    "connection",
}


def test_create_read_list_devices(emulator: InProcessEmulator) -> None:
    now = emulator.http.get("/_emulator/clock").json()["now_ms"]
    d = create_device(emulator, "d1", name="Sensor", asset_type="meter")
    assert set(d) == DEVICE_KEYS
    assert d["type"] == "HTTP" and d["enabled"] is True and d["name"] == "Sensor"
    assert d["asset_type"] == "meter" and d["asset_group"] is None
    assert abs(d["created"] - now) < 5000 and d["modified"] == d["created"]
    assert d["connection"] == {"active": False, "ts": None}
    create_device(emulator, "d2", type="MQTT", credentials="secret-123")
    create_device(emulator, "other", name="Kitchen", type="Virtual")

    assert emulator.http.get(f"{U}/devices/d1").json() == d
    items = emulator.http.get(f"{U}/devices").json()
    assert [i["device"] for i in items] == ["d1", "d2", "other"]
    assert all(set(i) == DEVICE_KEYS for i in items)
    assert "credentials" not in str(items) and "secret-123" not in str(items)
    by_type = emulator.http.get(f"{U}/devices", params={"type": "MQTT"}).json()
    assert [i["device"] for i in by_type] == ["d2"]
    by_name = emulator.http.get(f"{U}/devices", params={"name": "kitch"}).json()
    assert [i["device"] for i in by_name] == ["other"]
    page = emulator.http.get(f"{U}/devices", params={"count": 1, "index": 1}).json()
    assert [i["device"] for i in page] == ["d2"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "device"),
        ({"device": "bad id"}, "device"),
        ({"device": "d", "colour": "red"}, "colour"),
        ({"device": "d", "enabled": "yes"}, "enabled"),
        ({"device": "d", "type": "Generic"}, "credentials"),
        ({"device": "d", "type": "MQTT", "credentials": "abc"}, "credentials"),
        ({"device": "d", "type": "Toaster"}, "type"),
        ({"device": "x" * 33}, "device"),
    ],
)
def test_create_rejects_bodies_the_real_schema_rejects(
    emulator: InProcessEmulator, body: dict[str, object], field: str
) -> None:
    r = emulator.http.post(f"{U}/devices", json=body)
    assert r.status_code == 400
    assert field in error(r)


def test_create_existing_id_and_non_json(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    r = emulator.http.post(f"{U}/devices", json={"device": "d1"})
    assert r.status_code == 400 and "already exists" in error(r)
    r = emulator.http.post(f"{U}/devices", content=b"{oops", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in error(r)


def test_update_device(emulator: InProcessEmulator) -> None:
    d = create_device(emulator, "d1", asset_group="g1", name="A")
    emulator.advance(1)
    r = emulator.http.put(f"{U}/devices/d1", json={"name": "B", "asset_group": "", "enabled": False})
    assert r.status_code == 200
    new = r.json()
    assert new["name"] == "B" and new["asset_group"] is None and new["enabled"] is False
    assert new["modified"] > d["modified"] and new["created"] == d["created"]
    # Repeating the current id and type is fine (the real "Full Update" example does); changing them is not.
    r = emulator.http.put(f"{U}/devices/d1", json={"device": "d1", "type": "HTTP", "description": "x"})
    assert r.status_code == 200 and r.json()["description"] == "x"
    r = emulator.http.put(f"{U}/devices/d1", json={"type": "MQTT"})
    assert r.status_code == 400 and "type" in error(r)
    r = emulator.http.put(f"{U}/devices/d1", json={"device": "d9"})
    assert r.status_code == 400 and "device" in error(r)
    r = emulator.http.put(f"{U}/devices/d1", json={"nickname": "x"})
    assert r.status_code == 400 and "nickname" in error(r)
    r = emulator.http.put(f"{U}/devices/nope", json={"name": "x"})
    assert r.status_code == 404 and "nope" in error(r)


def test_delete_device_removes_callback_tokens_properties_but_not_buckets(
    emulator: InProcessEmulator,
) -> None:
    create_device(emulator, "d1")
    create_bucket(emulator, "b1")
    set_callback(emulator, write_bucket="b1", set_property="last")
    token = device_token(emulator)["token"]
    assert post_data(emulator, {"t": 1}, token=token).status_code == 200
    r = emulator.http.delete(f"{U}/devices/d1")
    assert r.status_code == 200 and r.json()["device"] == "d1"
    assert emulator.http.get(f"{U}/devices/d1").status_code == 404
    assert emulator.http.delete(f"{U}/devices/d1").status_code == 404
    assert emulator.http.get(f"{U}/buckets/b1").status_code == 200
    assert len(emulator.http.get(f"{U}/buckets/b1/data").json()) == 1
    # The device token died with the device, and a new device of the same id starts clean.
    assert post_data(emulator, {"t": 2}, token=token).status_code == 401
    create_device(emulator, "d1")
    assert emulator.http.get(f"{V3}/devices/d1/properties").json() == []
    assert emulator.http.get(f"{V3}/devices/d1/callback").json()["actions"] == {}
    assert emulator.http.get(f"{U}/devices/d1/tokens").json() == []


def test_auth_and_ids(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    assert emulator.anon("GET", f"{U}/devices").status_code == 401
    assert emulator.anon("GET", f"{U}/devices", headers={"Authorization": "Bearer nope"}).status_code == 401
    r = emulator.http.get("/v1/users/someone/devices")
    assert r.status_code == 403 and "someone" in error(r)
    r = emulator.http.get(f"{U}/devices/bad.id")
    assert r.status_code == 400 and "device" in error(r)
    assert emulator.http.get(f"{U}/devices/{'x' * 33}").status_code == 400
    # A device token only posts to its own callback.
    token = device_token(emulator)["token"]
    r = emulator.anon("GET", f"{U}/devices", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
    r = emulator.anon("GET", f"{U}/devices?authorization={emulator.token}")
    assert r.status_code == 200


def test_stats(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    stats = emulator.http.get(f"{U}/devices/d1/stats").json()
    assert stats == {
        "connected": False,
        "connected_ts": None,
        "ip_address": None,
        "rx_bytes": 0,
        "tx_bytes": 0,
    }
    assert emulator.http.get(f"{V3}/devices/d1/stats").json() == stats
    assert emulator.http.get(f"{U}/devices/nope/stats").status_code == 404


def test_device_tokens(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    created = device_token(emulator, name="field unit")
    assert {"id", "name", "token"} <= set(created) and created["name"] == "field unit"
    listed = emulator.http.get(f"{U}/devices/d1/tokens").json()
    assert listed == [
        {
            "id": created["id"],
            "name": "field unit",
            "created": listed[0]["created"],
            "expires": None,
            "last_used": None,
        }
    ]
    assert created["token"] not in emulator.http.get(f"{U}/devices/d1/tokens").text
    assert post_data(emulator, {"a": 1}, token=created["token"]).status_code == 200
    assert emulator.http.get(f"{U}/devices/d1/tokens").json()[0]["last_used"] is not None

    r = emulator.http.delete(f"{U}/devices/d1/tokens/{created['id']}")
    assert r.status_code == 200 and r.json()["id"] == created["id"]
    assert emulator.http.get(f"{U}/devices/d1/tokens").json() == []
    # Revoked at once, although the authenticator had it cached.
    r = post_data(emulator, {"a": 2}, token=created["token"])
    assert r.status_code == 401
    assert emulator.http.delete(f"{U}/devices/d1/tokens/{created['id']}").status_code == 404
    assert emulator.http.delete(f"{U}/devices/d1/tokens/bad.id").status_code == 400
    assert emulator.http.post(f"{U}/devices/nope/tokens", json={"token_name": "x"}).status_code == 404
    assert emulator.http.get(f"{U}/devices/nope/tokens").status_code == 404
    assert emulator.http.post(f"{U}/devices/d1/tokens", json={"token_name": 5}).status_code == 400


def test_token_expiration_on_the_emulator_clock(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    now = emulator.http.get("/_emulator/clock").json()["now_ms"]
    r = emulator.http.post(f"{U}/devices/d1/tokens", json={"token_name": "t", "token_expiration": now - 1})
    assert r.status_code == 400 and "token_expiration" in error(r)
    r = emulator.http.post(
        f"{U}/devices/d1/tokens", json={"token_name": "t", "token_expiration": now + 60_000}
    )
    assert r.status_code == 200
    token = r.json()["token"]
    assert emulator.http.get(f"{U}/devices/d1/tokens").json()[0]["expires"] == now + 60_000
    assert post_data(emulator, {"a": 1}, token=token).status_code == 200
    emulator.advance(61)
    r = post_data(emulator, {"a": 1}, token=token)
    assert r.status_code == 401 and "expired" in error(r)


def test_reset_drops_cached_devices(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    assert post_data(emulator, {"a": 1}).status_code == 200
    assert emulator.http.post("/_emulator/reset").status_code == 200
    assert post_data(emulator, {"a": 1}).status_code == 404
    assert emulator.http.get(f"{U}/devices").json() == []
