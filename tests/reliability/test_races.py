"""Concurrent requests on one resource: exactly one create or delete wins, the others get the contract's error,
and nothing answers 5xx. The requests run concurrently on the emulator's own event loop."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.harness import TEST_TOKEN, InProcessEmulator, Sink

USER = "local"


def burst(emu: InProcessEmulator, requests: list[tuple[str, str, dict[str, Any]]]) -> Counter[int]:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(emu.app)
        auth = {"Authorization": f"Bearer {TEST_TOKEN}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=auth) as c:
            return list(await asyncio.gather(*(c.request(m, p, **kw) for m, p, kw in requests)))

    responses: list[httpx.Response] = emu.run(run())
    for r in responses:
        assert r.status_code < 500, r.text
    return Counter(r.status_code for r in responses)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"/v1/users/{USER}/devices", {"device": "same"}),
        (
            f"/v1/users/{USER}/buckets",
            {"bucket": "same", "name": "s", "enabled": True, "config": {"source": "write"}},
        ),
        (
            f"/v1/users/{USER}/endpoints",
            {"endpoint": "same", "type": "http_request", "config": {"url": "http://x"}},
        ),
    ],
)
def test_concurrent_creates_of_one_id_make_one(
    emulator: InProcessEmulator, path: str, body: dict[str, Any]
) -> None:
    codes = burst(emulator, [("POST", path, {"json": body})] * 20)
    assert codes == {200: 1, 400: 19}
    assert len(emulator.http.get(path).json()) == 1


def test_concurrent_deletes_of_a_device_delete_it_once(emulator: InProcessEmulator) -> None:
    assert emulator.http.post(f"/v1/users/{USER}/devices", json={"device": "d1"}).status_code == 200
    codes = burst(emulator, [("DELETE", f"/v1/users/{USER}/devices/d1", {})] * 5)
    assert codes == {200: 1, 404: 4}
    kinds = [e["kind"] for e in emulator.http.get("/_emulator/events", params={"limit": 1000}).json()]
    assert kinds.count("device.deleted") <= 1


def test_concurrent_deletes_of_a_connection_delete_it_once(emulator: InProcessEmulator, sink: Sink) -> None:
    body = {"connectorId": "actility-http-iot", "name": "c", "configuration": {"destinationURL": sink.url}}
    cid = emulator.http.post("/iot-flow/v1/connections", json=body).json()["id"]
    codes = burst(emulator, [("DELETE", f"/iot-flow/v1/connections/{cid}", {})] * 5)
    assert codes == {204: 1, 404: 4}
