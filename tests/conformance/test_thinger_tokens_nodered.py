"""The Thinger Node-RED nodes' login and start-up requests, replayed against the emulator.

Sources, all in thinger-io/node-red-contrib-thinger:
- ``nodes/thinger-server.js``: the server node decodes the token (jsonwebtoken ``decode``, no key) and takes
  the user from its ``usr`` claim, else reports "Invalid JWT Token" and sends nothing; every request is
  ``Authorization: Bearer <token>``; the editor's ``/users/user`` reads ``GET /v1/users/{usr}``,
  ``/server/:resource`` reads ``GET /v1/server/{resource}`` (``assets`` sorted by ``asset``);
  ``callbackDevice`` auto-provisions (``POST /v1/users/{usr}/devices``, ``POST .../buckets``,
  ``PUT /v3/.../callback`` with ``write_bucket``) and posts ``.../callback/data``; ``writeProperty`` reads the
  property, creates it with ``POST .../properties`` when missing, else ``PUT`` s it;
- ``nodes/asset-iterator.js``: ``GET /v1/server/assets``, ``find(e => e.asset === asset).paths.list`` with
  ``(?<user>...)`` replaced by the user, then ``<host>/<path>?count=50&<query>index=N`` until a short page;
- ``static/js/user.js`` reads ``role``; ``static/js/assets.js`` keeps assets whose ``role`` is not ``admin``
  and reads ``device``, ``name``, ``connection.active``, ``type`` of devices, ``bucket``, ``name``,
  ``enabled``, ``config`` of buckets, ``endpoint``, ``name``, ``enabled`` of endpoints;
- ``lib/utils/request.js``: 404 resolves ``{status: 404}``, 401 "Unauthorized access", 403 "Forbidden".
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from iotcli.emulator.settings import EmulatorSettings
from tests.harness import InProcessEmulator


def jwt_decode(token: str) -> dict[str, Any] | None:
    """jsonwebtoken's ``decode(token, {complete: true}).payload``: base64url JSON, no signature check."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


class ServerNode:
    """thinger-server.js: the config node (host, ssl off, token) and its ``request``."""

    def __init__(self, emu: InProcessEmulator, token: str) -> None:
        self.emu = emu
        self.token = token
        decoded = jwt_decode(token)
        if not decoded or not decoded.get("usr"):
            raise AssertionError("Invalid JWT Token")
        self.username = str(decoded["usr"])

    def request(self, method: str, url: str, data: Any = None) -> dict[str, Any]:
        """lib/utils/request.js: ``{status, payload}``; 404 resolves; other errors reject."""
        kwargs: dict[str, Any] = {"headers": {"Authorization": f"Bearer {self.token}"}}
        if data is not None:
            kwargs["json"] = data
        r: httpx.Response = self.emu.anon(method, url, **kwargs)
        payload: Any = r.content
        if r.headers.get("content-type", "").startswith("application/json"):
            payload = r.json()
        if r.status_code == 401:
            raise PermissionError("Unauthorized access. Check node configuration.")
        if r.status_code == 403:
            raise PermissionError("Forbidden. The credentials used can't access the resource.")
        if r.status_code == 404:
            return {"status": 404, "error": "not found"}
        assert 200 <= r.status_code < 300, (r.status_code, r.text)
        return {"status": r.status_code, "payload": payload}


@pytest.fixture
def emu() -> Iterator[InProcessEmulator]:
    """``iotcli emulate`` without --token: the account token the banner prints is a generated JWT."""
    emu = InProcessEmulator(EmulatorSettings(data_dir=None, token=None))
    emu.token = emu.emu.account_token
    with emu:
        yield emu


def test_server_node_takes_the_user_from_the_account_token(emu: InProcessEmulator) -> None:
    """thinger-server.js ThingerServerNode: ``decoded.payload.usr`` becomes ``config.username``."""
    assert ServerNode(emu, emu.token).username == "local"
    # A --token chosen by the user is used as given: it is not a JWT, so the node refuses it (documented).
    with pytest.raises(AssertionError, match="Invalid JWT Token"):
        ServerNode(emu, "my-own-opaque-token")


def test_oauth_and_access_tokens_work_in_the_server_node(emu: InProcessEmulator) -> None:
    """The same decode works for a token from /oauth/token and for a user access token (Node-RED's
    THINGER_TOKEN_NODE_RED_PLUGIN is one)."""
    form = {"grant_type": "password", "username": "local", "password": emu.token}
    oauth = emu.anon("POST", "/oauth/token", data=form).json()["access_token"]
    body = {"token": "node_red", "name": "Node-RED", "enabled": True, "allow": {"*": {"*": "*"}}}
    access = emu.http.post("/v1/users/local/tokens", json=body).json()["access_token"]
    for token in (oauth, access):
        node = ServerNode(emu, token)
        assert node.username == "local"
        assert node.request("GET", f"/v1/users/{node.username}")["payload"]["role"] == "user"


def test_editor_start_up(emu: InProcessEmulator) -> None:
    """The editor's first calls: user.js (``role``), the server resources, assets.js's asset names."""
    node = ServerNode(emu, emu.token)
    user = node.request("GET", f"/v1/users/{node.username}")["payload"]
    assert user["role"] == "user"
    assert node.request("GET", "/v1/server/version")["status"] == 200
    assert node.request("GET", "/v1/server/healthcheck")["status"] == 200
    data = sorted(node.request("GET", "/v1/server/assets")["payload"], key=lambda a: a["asset"])
    kept = [a["asset"] for a in data if user["role"] == "admin" or a.get("role") != "admin"]
    assert {"device", "bucket", "endpoint"} <= set(kept)


def test_asset_iterator_lists_devices_page_by_page(emu: InProcessEmulator) -> None:
    """asset-iterator.js: the list path from /v1/server/assets, ``count=50`` pages, ``index`` advancing."""
    for i in range(60):
        r = emu.http.post("/v1/users/local/devices", json={"device": f"dev{i:02d}", "name": f"Device {i}"})
        assert r.status_code == 200, r.text
    node = ServerNode(emu, emu.token)
    data = node.request("GET", "/v1/server/assets")["payload"]
    path = next(e for e in data if e["asset"] == "device")["paths"]["list"]
    path = re.sub(r"\(\?<user>[^)]+\)", node.username, path, count=1)
    query = "name=Device&"
    url = f"/{path}?count=50&{query}"
    seen: list[dict[str, Any]] = []
    index = 0
    while True:
        res = node.request("GET", f"{url}index={index}")
        seen += res["payload"]
        index += len(res["payload"])
        if len(res["payload"]) != 50:
            break
    assert index == 60 and len({d["device"] for d in seen}) == 60
    # static/js/assets.js ThingerDevices: the fields it reads of each device.
    for d in seen:
        assert isinstance(d["device"], str) and isinstance(d["name"], str)
        assert d["connection"]["active"] is False and d["type"] == "HTTP"


def test_device_callback_auto_provisioning(emu: InProcessEmulator) -> None:
    """thinger-server.js callbackDevice: the provisioning requests it makes for a device it does not find,
    then the callback data, written to the bucket it made."""
    node = ServerNode(emu, emu.token)
    user = node.username
    url = f"/v3/users/{user}/devices/sensor1/callback"
    assert node.request("GET", url)["status"] == 404
    device = {
        "type": "HTTP",
        "device": "sensor1",
        "name": "sensor1",
        "description": "Auto provisioned Node-RED Device",
    }
    assert node.request("POST", f"/v1/users/{user}/devices", device)["status"] == 200
    bucket = {
        "bucket": "sensor1",
        "name": "sensor1",
        "description": "Auto provisioned Node-RED Bucket",
        "enabled": True,
        "config": {"source": "api"},
    }
    assert node.request("POST", f"/v1/users/{user}/buckets", bucket)["status"] == 200
    node.request("PUT", url, {"actions": {"write_bucket": "sensor1"}})
    res = node.request("POST", f"{url}/data", {"temperature": 21.5})
    assert res["status"] == 200
    records = node.request("GET", f"/v1/users/{user}/buckets/sensor1/data")["payload"]
    assert [r["val"] for r in records] == [{"temperature": 21.5}]


def test_write_property_creates_then_updates(emu: InProcessEmulator) -> None:
    """thinger-server.js writeProperty: GET the property; 404 -> POST ``{"property","value"}`` to the list;
    else PUT the same body."""
    assert emu.http.post("/v1/users/local/devices", json={"device": "d1"}).status_code == 200
    node = ServerNode(emu, emu.token)
    url = f"/v3/users/{node.username}/devices/d1/properties/setpoint"
    for value in ("21", '{"target": 22}'):
        body = json.loads('{"property":"setpoint","value":' + value + "}")
        if node.request("GET", url).get("status") == 404:
            assert node.request("POST", url.replace("/setpoint", ""), body)["status"] == 200
        else:
            assert node.request("PUT", url, body)["status"] == 200
        assert node.request("GET", url)["payload"]["value"] == body["value"]


def test_a_token_for_one_bucket_in_node_red(emu: InProcessEmulator) -> None:
    """A user access token with only ReadBucket on one bucket: the bucket-read node's request works, the
    editor's user read is "Forbidden" (request.js's 403 message), another bucket too."""
    for b in ("b1", "b2"):
        body = {"bucket": b, "name": b, "enabled": True, "config": {"source": "api"}}
        assert emu.http.post("/v1/users/local/buckets", json=body).status_code == 200
    assert emu.http.post("/v1/users/local/buckets/b1/data", json={"t": 1}).status_code == 200
    body = {"token": "nr_b1", "name": "b1 only", "enabled": True, "allow": {"Bucket": {"b1": ["ReadBucket"]}}}
    node = ServerNode(emu, emu.http.post("/v1/users/local/tokens", json=body).json()["access_token"])
    res = node.request("GET", f"/v1/users/{node.username}/buckets/b1/data?items=10&sort=desc&")
    assert [r["val"] for r in res["payload"]] == [{"t": 1}]
    for url in (f"/v1/users/{node.username}", f"/v1/users/{node.username}/buckets/b2/data?items=10&"):
        with pytest.raises(PermissionError, match="Forbidden"):
            node.request("GET", url)
