"""Shared setup for the Thinger-surface emulator tests."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.harness import InProcessEmulator

U = "/v1/users/local"
V3 = "/v3/users/local"


def create_device(emu: InProcessEmulator, device: str = "d1", **fields: Any) -> dict[str, Any]:
    r = emu.http.post(f"{U}/devices", json={"device": device, **fields})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def create_bucket(emu: InProcessEmulator, bucket: str = "b1", **fields: Any) -> dict[str, Any]:
    body = {"bucket": bucket, "name": bucket.upper(), "enabled": True, "config": {"source": "api"}, **fields}
    r = emu.http.post(f"{U}/buckets", json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def create_endpoint(
    emu: InProcessEmulator, endpoint: str, config: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    body = {"endpoint": endpoint, "type": "http_request", "config": config, **fields}
    r = emu.http.post(f"{U}/endpoints", json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def set_callback(emu: InProcessEmulator, device: str = "d1", **actions: str) -> dict[str, Any]:
    timeout = actions.pop("timeout", None)
    body: dict[str, Any] = {"actions": actions}
    if timeout is not None:
        body["properties"] = {"timeout": int(timeout)}
    r = emu.http.put(f"{V3}/devices/{device}/callback", json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def device_token(emu: InProcessEmulator, device: str = "d1", name: str = "t") -> dict[str, Any]:
    r = emu.http.post(f"{U}/devices/{device}/tokens", json={"token_name": name})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def post_data(
    emu: InProcessEmulator,
    payload: Any,
    *,
    device: str = "d1",
    token: str | None = None,
    params: dict[str, str] | None = None,
    content: bytes | None = None,
) -> httpx.Response:
    """POST .../callback/data as a device would (its own token), or with the account token."""
    url = f"{V3}/devices/{device}/callback/data"
    headers = {"Authorization": f"Bearer {token}"} if token else {"Authorization": f"Bearer {emu.token}"}
    if content is not None:
        return emu.anon("POST", url, content=content, headers=headers, params=params)
    return emu.anon("POST", url, json=payload, headers=headers, params=params)


def records(emu: InProcessEmulator, bucket: str = "b1", **params: Any) -> list[dict[str, Any]]:
    r = emu.http.get(f"{U}/buckets/{bucket}/data", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def events(emu: InProcessEmulator, kind: str) -> list[dict[str, Any]]:
    r = emu.http.get("/_emulator/events", params={"kind": kind, "limit": 1000})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def wait_until(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def error(r: httpx.Response) -> str:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message"}, body
    return str(body["error"]["message"])
