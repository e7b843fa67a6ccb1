"""Two more real Thinger clients' login steps, replayed against the emulator.

- thinger-io/n8n-nodes-thinger ``credentials/ThingerTokenApi.credentials.ts``: the credential test is
  ``GET /v1/users`` with ``Authorization: Bearer <token>``; ``nodes/Thinger/v1/helpers/utils.ts``
  ``getApiUser`` takes ``usr`` from ``JSON.parse(Buffer.from(token.split('.')[1], 'base64'))``;
  ``nodes/Thinger/v1/transport/index.ts`` ``apiRequestAllItems`` pages with ``count=100`` and ``index``.
- thinger-io/vscode-extension ``src/thinger-config.ts``: ``jwtDecode(token)``, ``usr`` is the user and
  ``svr`` the host; ``src/util/axios-instance.ts`` sends to ``http://{host}:{port}`` with the bearer token;
  ``src/thinger-api.ts`` ``getDevices``: ``GET /v1/users/{user}/devices?name={search}&type=Generic&count=10``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from iotcli.emulator.settings import EmulatorSettings
from tests.harness import InProcessEmulator


def node_buffer_base64_json(part: str) -> dict[str, Any]:
    """``JSON.parse(Buffer.from(part, 'base64').toString())``: Node's base64 takes the URL-safe alphabet and
    no padding too."""
    data = base64.b64decode(part.replace("-", "+").replace("_", "/") + "=" * (-len(part) % 4))
    decoded: dict[str, Any] = json.loads(data)
    return decoded


@pytest.fixture
def emu() -> Iterator[InProcessEmulator]:
    emu = InProcessEmulator(EmulatorSettings(data_dir=None, token=None, host="127.0.0.1", port=8100))
    emu.token = emu.emu.account_token
    with emu:
        yield emu


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_n8n_credential_test_and_user(emu: InProcessEmulator) -> None:
    """ThingerTokenApi.test: GET /v1/users must answer 2xx; getApiUser reads ``usr``."""
    r = emu.anon("GET", "/v1/users", headers=bearer(emu.token))
    assert r.status_code == 200, r.text
    user = node_buffer_base64_json(emu.token.split(".")[1])["usr"]
    assert user == "local" and [u["user"] for u in r.json()] == [user]
    # A wrong token fails the credential test.
    assert emu.anon("GET", "/v1/users", headers=bearer(emu.token + "x")).status_code == 401


def test_n8n_all_items_paging(emu: InProcessEmulator) -> None:
    """apiRequestAllItems: ``count=100``, ``index`` += page length while a page is full."""
    for i in range(101):
        assert emu.http.post("/v1/users/local/devices", json={"device": f"d{i:03d}"}).status_code == 200
    user = node_buffer_base64_json(emu.token.split(".")[1])["usr"]
    items: list[dict[str, Any]] = []
    query = {"count": 100, "index": 0}
    while True:
        page = emu.anon("GET", f"/v1/users/{user}/devices", params=query, headers=bearer(emu.token)).json()
        items += page
        query["index"] += len(page)
        if len(page) != query["count"]:
            break
    assert len(items) == 101 and query["index"] == 101


def test_vscode_extension_host_user_and_device_search(emu: InProcessEmulator) -> None:
    """thinger-config.ts: host = ``svr``, user = ``usr``; thinger-api.ts getDevices with type=Generic."""
    claims = node_buffer_base64_json(emu.token.split(".")[1])
    host, user = claims["svr"], claims["usr"]
    assert f"http://{host}:8100" == emu.emu.settings.base_url  # what axios-instance.ts builds
    body = {"device": "esp32", "type": "Generic", "credentials": "secret-credentials", "name": "ESP32"}
    assert emu.http.post("/v1/users/local/devices", json=body).status_code == 200
    assert emu.http.post("/v1/users/local/devices", json={"device": "http1"}).status_code == 200
    search = ""
    r = emu.anon(
        "GET", f"/v1/users/{user}/devices?name={search}&type=Generic&count=10", headers=bearer(emu.token)
    )
    assert r.status_code == 200, r.text
    assert [d["device"] for d in r.json()] == ["esp32"]


def test_vscode_extension_access_token_with_the_permissions_it_asks_for(emu: InProcessEmulator) -> None:
    """thinger-config.ts asks for a token with ListDevices, ListProducts, AccessDeviceResources,
    ReadDeviceStatistics: such a token lists devices and reads their statistics, nothing more."""
    assert emu.http.post("/v1/users/local/devices", json={"device": "esp32"}).status_code == 200
    allow = {
        "Device": {"*": ["ListDevices", "AccessDeviceResources", "ReadDeviceStatistics"]},
        "Product": {"*": ["ListProducts"]},
    }
    body = {"token": "vscode", "name": "VS Code", "enabled": True, "allow": allow}
    token = emu.http.post("/v1/users/local/tokens", json=body).json()["access_token"]
    user = node_buffer_base64_json(token.split(".")[1])["usr"]
    assert (
        emu.anon(
            "GET", f"/v1/users/{user}/devices?name=&type=Generic&count=10", headers=bearer(token)
        ).status_code
        == 200
    )
    assert emu.anon("GET", f"/v1/users/{user}/devices/esp32/stats", headers=bearer(token)).status_code == 200
    assert emu.anon("DELETE", f"/v1/users/{user}/devices/esp32", headers=bearer(token)).status_code == 403
