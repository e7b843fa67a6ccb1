"""User access tokens (/v1/users/{user}/tokens) with the real request schema, their permissions enforced
for every resource the emulator serves (403), disabled or expired ones refused (401); device tokens'
token_expiration in Unix seconds or milliseconds."""

from __future__ import annotations

from typing import Any

import jwt
import pytest

from iotcli.emulator.permissions import Action, ActionMap, Grant
from iotcli.emulator.thinger import actions
from tests.emulator.thinger_helpers import V3, U, create_bucket, create_device, create_endpoint
from tests.harness import InProcessEmulator

TOKENS = f"{U}/tokens"
ADMIN = {"token": "admin_access", "name": "Admin Access", "enabled": True, "allow": {"*": {"*": "*"}}}
ONE_BUCKET = {
    "token": "b1_reader",
    "name": "B1",
    "enabled": True,
    "allow": {"Bucket": {"b1": ["ReadBucket"]}},
}


def create(emu: InProcessEmulator, body: dict[str, Any]) -> str:
    r = emu.http.post(TOKENS, json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def as_token(emu: InProcessEmulator, token: str, method: str, url: str, **kwargs: Any) -> Any:
    return emu.anon(method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs)


def stored(emu: InProcessEmulator) -> Any:
    def read(c: Any) -> Any:
        return (
            [tuple(r) for r in c.execute("SELECT * FROM th_access_tokens ORDER BY token")],
            [tuple(r) for r in c.execute("SELECT hash, id, kind, expires FROM tokens ORDER BY id")],
        )

    return emu.run(emu.emu.store.read(read))


def test_crud_with_the_real_schema(emulator: InProcessEmulator) -> None:
    r = emulator.http.post(TOKENS, json={**ADMIN, "description": "all of it"})
    assert r.status_code == 200, r.text
    created = r.json()
    assert (
        created["token"] == "admin_access"
        and created["name"] == "Admin Access"
        and created["enabled"] is True
    )
    assert created["allow"] == {"*": {"*": "*"}} and created["description"] == "all of it"
    assert isinstance(created["created"], int) and created["modified"] == created["created"]
    payload = jwt.decode(created["access_token"], options={"verify_signature": False})
    assert payload["usr"] == "local" and payload["jti"] == "admin_access"

    listed = emulator.http.get(TOKENS).json()
    assert listed == [{k: created[k] for k in ("created", "enabled", "modified", "name", "token")}]
    read = emulator.http.get(f"{TOKENS}/admin_access").json()
    assert "access_token" not in read and read["allow"] == {"*": {"*": "*"}}

    emulator.advance(1)
    r = emulator.http.put(f"{TOKENS}/admin_access", json={"name": "Renamed", "enabled": False})
    assert r.status_code == 200, r.text
    assert (
        r.json()["name"] == "Renamed"
        and r.json()["enabled"] is False
        and r.json()["modified"] > created["created"]
    )
    assert r.json()["allow"] == {"*": {"*": "*"}}  # partial update

    r = emulator.http.delete(f"{TOKENS}/admin_access")
    assert r.status_code == 200 and r.json()["token"] == "admin_access"
    assert emulator.http.get(TOKENS).json() == []
    assert emulator.http.get(f"{TOKENS}/admin_access").status_code == 404
    assert as_token(emulator, created["access_token"], "GET", f"{U}/devices").status_code == 401


def test_the_openapi_examples_are_accepted(emulator: InProcessEmulator) -> None:
    from iotcli.emulator.thinger.validation import request_examples

    for value in request_examples("post", "/v1/users/{user}/tokens").values():
        assert emulator.http.post(TOKENS, json=value).status_code == 200, value
    for value in request_examples("put", "/v1/users/{user}/tokens/{token}").values():
        assert emulator.http.put(f"{TOKENS}/admin_access", json=value).status_code == 200, value


def test_list_takes_name_count_and_index(emulator: InProcessEmulator) -> None:
    for i in range(4):
        create(emulator, {"token": f"t{i}", "name": f"Token {i}", "enabled": True})
    assert [t["token"] for t in emulator.http.get(TOKENS, params={"count": 2, "index": 1}).json()] == [
        "t1",
        "t2",
    ]
    assert [t["token"] for t in emulator.http.get(TOKENS, params={"name": "token 3"}).json()] == ["t3"]


def test_an_admin_token_acts_as_the_account(emulator: InProcessEmulator) -> None:
    token = create(emulator, ADMIN)
    create_device(emulator, "d1")
    assert as_token(emulator, token, "GET", f"{U}/devices").json()[0]["device"] == "d1"
    r = as_token(emulator, token, "POST", f"{U}/buckets",
                 json={"bucket": "b2", "name": "n", "enabled": True, "config": {"source": "api"}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert (
        as_token(emulator, token, "POST", f"{V3}/devices/d1/callback/data", json={"a": 1}).status_code == 200
    )
    assert as_token(emulator, token, "GET", "/_emulator/clock").status_code == 200
    # ...of its own user only.
    assert as_token(emulator, token, "GET", "/v1/users/bob/devices").status_code == 403


def test_a_token_for_one_bucket_reads_that_bucket_and_nothing_else(emulator: InProcessEmulator) -> None:
    create_bucket(emulator, "b1")
    create_bucket(emulator, "b2")
    create_device(emulator, "d1")
    create_endpoint(emulator, "e1", {"url": "http://127.0.0.1:9/", "method": "POST"})
    assert emulator.http.post(f"{U}/buckets/b1/data", json={"t": 1}).status_code == 200
    token = create(emulator, ONE_BUCKET)

    r = as_token(emulator, token, "GET", f"{U}/buckets/b1/data")
    assert r.status_code == 200 and r.json()[0]["val"] == {"t": 1}
    assert as_token(emulator, token, "GET", "/v2/users/local/buckets/b1/data").status_code == 200
    refused = [
        ("GET", f"{U}/buckets/b2/data", None),
        ("GET", f"{U}/buckets/b1", None),  # ReadBucketConfig
        ("POST", f"{U}/buckets/b1/data", {"t": 2}),  # WriteBucket
        ("DELETE", f"{U}/buckets/b1/data", None),  # ClearBucket
        ("DELETE", f"{U}/buckets/b1", None),
        ("GET", f"{U}/buckets", None),  # ListBuckets needs a '*' grant
        ("GET", f"{U}/devices", None),
        ("POST", f"{V3}/devices/d1/callback/data", {"a": 1}),
        ("GET", f"{V3}/devices/d1/properties", None),
        ("POST", f"{U}/endpoints/e1/call", {"a": 1}),
        ("GET", TOKENS, None),
        ("POST", TOKENS, {**ADMIN, "token": "escalate"}),
        ("GET", "/v1/users/local", None),
        ("GET", "/_emulator/events", None),
        ("GET", "/iot-flow/v1/connections", None),
    ]
    before = stored(emulator)
    for method, url, body in refused:
        r = as_token(emulator, token, method, url, **({"json": body} if body is not None else {}))
        assert r.status_code == 403, (method, url, r.text)
        assert "access token 'b1_reader' is not allowed" in r.text  # either surface's error shape
    assert stored(emulator) == before
    assert len(emulator.http.get(f"{U}/buckets/b1/data").json()) == 1  # nothing written or cleared


def test_deny_wins_and_wildcards(emulator: InProcessEmulator) -> None:
    create_bucket(emulator, "b1")
    create_bucket(emulator, "b2")
    body = {
        "token": "readers",
        "name": "r",
        "enabled": True,
        "allow": {"Bucket": {"*": ["Read*", "ListBuckets"]}},
        "deny": {"Bucket": {"b2": "*"}},
    }
    token = create(emulator, body)
    assert as_token(emulator, token, "GET", f"{U}/buckets").status_code == 200
    assert as_token(emulator, token, "GET", f"{U}/buckets/b1").status_code == 200  # ReadBucketConfig
    assert as_token(emulator, token, "GET", f"{U}/buckets/b2").status_code == 403
    assert as_token(emulator, token, "POST", f"{U}/buckets/b1/data", json={"a": 1}).status_code == 403


def test_disabled_and_expired_tokens_are_401_and_changes_apply_at_once(emulator: InProcessEmulator) -> None:
    token = create(emulator, ADMIN)
    assert as_token(emulator, token, "GET", f"{U}/devices").status_code == 200
    assert emulator.http.put(f"{TOKENS}/admin_access", json={"enabled": False}).status_code == 200
    r = as_token(emulator, token, "GET", f"{U}/devices")
    assert r.status_code == 401 and "disabled" in r.json()["error"]["message"]
    assert emulator.http.put(f"{TOKENS}/admin_access", json={"enabled": True}).status_code == 200
    assert as_token(emulator, token, "GET", f"{U}/devices").status_code == 200
    # Narrowed: refused at once.
    narrow = {"allow": {"Bucket": {"*": ["ListBuckets"]}}}
    assert emulator.http.put(f"{TOKENS}/admin_access", json=narrow).status_code == 200
    assert as_token(emulator, token, "GET", f"{U}/devices").status_code == 403
    assert as_token(emulator, token, "GET", f"{U}/buckets").status_code == 200

    now_s = int(emulator.emu.clock.now())
    expiring = create(emulator, {**ADMIN, "token": "soon", "expire": now_s + 60})  # Unix seconds
    assert emulator.http.get(f"{TOKENS}/soon").json()["expire"] == (now_s + 60) * 1000
    assert as_token(emulator, expiring, "GET", f"{U}/devices").status_code == 200
    emulator.advance(61)
    r = as_token(emulator, expiring, "GET", f"{U}/devices")
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    # Expiry moved later (milliseconds this time): it works again.
    later = int(emulator.emu.clock.now_ms()) + 60_000
    assert emulator.http.put(f"{TOKENS}/soon", json={"expire": later}).status_code == 200
    assert as_token(emulator, expiring, "GET", f"{U}/devices").status_code == 200


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"name": "n", "enabled": True}, "token"),
        ({"token": "bad-id", "name": "n", "enabled": True}, "token"),
        ({"token": "t", "name": "n"}, "enabled"),
        ({"token": "t", "name": "n", "enabled": "yes"}, "enabled"),
        ({"token": "t", "name": "n", "enabled": True, "extra": 1}, "extra"),
        ({"token": "t", "name": "n", "enabled": True, "allow": {"Bucket": {"b1": 5}}}, "allow"),
        ({"token": "t", "name": "n", "enabled": True, "allow": {"Bucket": {}}}, "allow"),
        ({"token": "t", "name": "n", "enabled": True, "expire": 1000}, "expire"),
        ({"token": "t", "name": "n", "enabled": True, "expire": "tomorrow"}, "expire"),
    ],
)
def test_bad_bodies_are_400_naming_the_field_and_store_nothing(
    emulator: InProcessEmulator, body: dict[str, Any], words: str
) -> None:
    before = stored(emulator)
    r = emulator.http.post(TOKENS, json=body)
    assert r.status_code == 400, r.text
    assert words in r.json()["error"]["message"]
    assert stored(emulator) == before


def test_duplicates_bad_updates_and_missing_tokens(emulator: InProcessEmulator) -> None:
    create(emulator, ADMIN)
    before = stored(emulator)
    r = emulator.http.post(TOKENS, json=ADMIN)
    assert r.status_code == 400 and "already exists" in r.json()["error"]["message"]
    r = emulator.http.put(f"{TOKENS}/admin_access", json={"token": "renamed"})
    assert r.status_code == 400 and "token" in r.json()["error"]["message"]
    r = emulator.http.put(f"{TOKENS}/admin_access", json={"enabled": 1})
    assert r.status_code == 400 and "enabled" in r.json()["error"]["message"]
    assert emulator.http.put(f"{TOKENS}/nope", json={"name": "x"}).status_code == 404
    assert emulator.http.delete(f"{TOKENS}/nope").status_code == 404
    assert stored(emulator) == before


# -- device tokens: token_expiration in seconds or milliseconds ----------------------------------


@pytest.mark.parametrize("unit", ["seconds", "milliseconds"])
def test_device_token_expiration_in_seconds_or_milliseconds(emulator: InProcessEmulator, unit: str) -> None:
    create_device(emulator, "d1")
    now_ms = int(emulator.emu.clock.now_ms())
    at_ms = now_ms + 120_000
    value = at_ms // 1000 if unit == "seconds" else at_ms
    r = emulator.http.post(f"{U}/devices/d1/tokens", json={"token_name": "t", "token_expiration": value})
    assert r.status_code == 200, r.text
    expected = (at_ms // 1000) * 1000 if unit == "seconds" else at_ms
    assert r.json()["expires"] == expected
    token = r.json()["token"]
    url = f"{V3}/devices/d1/callback/data"
    assert as_token(emulator, token, "POST", url, json={"a": 1}).status_code == 200
    emulator.advance(121)
    assert as_token(emulator, token, "POST", url, json={"a": 1}).status_code == 401


@pytest.mark.parametrize("value", [1000, 1_000_000, "soon", True, 10**17])
def test_device_token_expiration_bad_values(emulator: InProcessEmulator, value: Any) -> None:
    create_device(emulator, "d1")
    r = emulator.http.post(f"{U}/devices/d1/tokens", json={"token_name": "t", "token_expiration": value})
    assert r.status_code == 400, r.text
    assert "token_expiration" in r.json()["error"]["message"]
    assert emulator.http.get(f"{U}/devices/d1/tokens").json() == []


# -- the permission rules as a unit --------------------------------------------------------------


def test_every_served_route_of_a_user_resource_has_an_action() -> None:
    """The permission check knows what every Thinger route does (nothing falls to 'admin only')."""
    from iotcli.emulator import thinger

    table: ActionMap = actions()
    for spec in (s for t in thinger.ROUTE_TABLES for s in t.specs if "{user}" in s.path):
        path = spec.path.replace("{version}", "v1")
        for name in ("user", "device", "bucket", "endpoint", "property", "token", "file"):
            path = path.replace("{" + name + "}", f"x_{name}")
        act = table.resolve(spec.method, path)
        assert act is not None, (spec.method, spec.path)


def test_grant_rules() -> None:
    read_b1 = Grant({"Bucket": {"b1": ["ReadBucket"]}})
    assert read_b1.permits(Action("Bucket", "b1", "ReadBucket"), "local")
    assert not read_b1.permits(Action("Bucket", "b2", "ReadBucket"), "local")
    assert not read_b1.permits(Action("Bucket", None, "ListBuckets"), "local")
    assert not read_b1.permits(None, "local") and not read_b1.is_admin
    assert Grant({"*": {"*": "*"}}).is_admin
    assert not Grant({"*": {"*": "*"}}, {"Bucket": {"b1": "*"}}).is_admin
    owned = Grant({"Bucket": {"b1@local": "ReadBucket"}})
    assert owned.permits(Action("Bucket", "b1", "ReadBucket"), "local")
    assert not owned.permits(Action("Bucket", "b1", "ReadBucket"), "bob")
    sub = Grant({"Device": {"*": [{"AccessDeviceResources": ["temp"]}]}})
    assert sub.permits(Action("Device", "d1", "AccessDeviceResources"), "local")
