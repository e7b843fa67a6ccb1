"""Shared by the inspector's tests: logging in, reading the CSRF token, secrets to look for."""

from __future__ import annotations

import re
from typing import Any

import httpx

UI = "/_emulator/ui"
#: Secrets the traffic of the tests carries: none may ever appear in a page.
AS_KEY = "as-key-secret-5c1b2e"
TIAK = "bec499c69e9c939e413b663961636c61"
PROXY_PASSWORD = "proxy-pass-secret-77a1"
HEADER_SECRET = "Bearer header-secret-9f3e1d"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field in the page"
    return found.group(1)


def login(client: httpx.Client, token: str) -> str:
    """Log ``client`` in; returns the CSRF token of its session."""
    r = client.post(f"{UI}/login", data={"token": token, "next": f"{UI}/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client.get(f"{UI}/").text)


def seed_traffic(http: httpx.Client, destination: str, user: str = "local") -> dict[str, Any]:
    """A bucket, a device writing to it, a device token, a sink and a connection with secrets to ``destination``."""
    assert (
        http.post(
            f"/v1/users/{user}/buckets",
            json={"bucket": "climate", "name": "Climate", "enabled": True, "config": {"source": "api"}},
        ).status_code
        == 200
    )
    assert (
        http.post(f"/v1/users/{user}/devices", json={"device": "sensor1", "name": "Sensor"}).status_code
        == 200
    )
    r = http.put(f"/v3/users/{user}/devices/sensor1/callback", json={"actions": {"write_bucket": "climate"}})
    assert r.status_code == 200, r.text
    token = http.post(f"/v1/users/{user}/devices/sensor1/tokens", json={"token_name": "field"}).json()[
        "token"
    ]
    assert http.post(
        "/_emulator/sinks", json={"name": "app", "respond": [500], "default": 200}
    ).status_code in (
        200,
        201,
    )
    r = http.post(
        "/iot-flow/v1/connections",
        json={
            "connectorId": "actility-http-iot",
            "name": "to-app",
            "configuration": {
                "destinationURL": destination,
                "headers": {"Authorization": HEADER_SECRET, "X-Plain": "visible"},
                "downlinkAsId": "as1",
                "downlinkAsKey": AS_KEY,
                "lrcCompliance": True,
                "tiak": TIAK,
            },
        },
    )
    assert r.status_code == 201, r.text
    return {"device_token": token, "connection": r.json()["id"]}


def secrets_in(text: str, *extra: str) -> list[str]:
    return [s for s in (AS_KEY, TIAK, PROXY_PASSWORD, "header-secret-9f3e1d", *extra) if s and s in text]
