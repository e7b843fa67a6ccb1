"""Durability of HTTP connections: a kill -9 or a restart in the middle of retries loses nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.harness import EmulatorProcess, Sink, free_port

DEVEUI = "0018B20000000B20"


def connect(client: httpx.Client, url: str, **config: Any) -> str:
    body = {
        "connectorId": "actility-http-iot",
        "name": "app",
        "configuration": {"destinationURL": url, **config},
    }
    r = client.post("/iot-flow/v1/connections", json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def send_uplink(client: httpx.Client) -> dict[str, Any]:
    r = client.post("/_emulator/lorawan/uplinks", json={"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "0102"})
    assert r.status_code == 202, r.text
    return r.json()  # type: ignore[no-any-return]


def wait_until(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_kill_9_mid_strict_retry_resumes_after_restart(tmp_path: Path) -> None:
    with Sink([500], default=200) as sink:
        first = EmulatorProcess(tmp_path).start()
        try:
            with first.client() as client:
                cid = connect(client, sink.url + "/up", strictMode=True)
                send_uplink(client)
                sink.wait_for(1)  # answered 500: a resend is due 2 s later
                wait_until(
                    lambda: (
                        client.get("/_emulator/deliveries", params={"connection": cid}).json()[0]["attempts"]
                        == 1
                    )
                )
                first.kill()
        finally:
            first.kill()
        assert len(sink.requests) == 1
        second = EmulatorProcess(tmp_path, token=first.token)
        second.port, second.url = first.port, first.url
        second.args = first.args
        with second, second.client() as client:
            reqs = sink.wait_for(2, timeout=15)
            assert reqs[0].body == reqs[1].body
            rows = wait_until(
                lambda: [
                    r
                    for r in client.get("/_emulator/deliveries", params={"connection": cid}).json()
                    if r["status"] == "delivered"
                ]
            )
            assert rows[0]["attempts"] == 2


def test_restart_and_kill_9_keep_waiting_uplinks_in_order(tmp_path: Path) -> None:
    port = free_port()
    proc = EmulatorProcess(tmp_path).start()
    with proc.client() as client:
        cid = connect(client, f"http://127.0.0.1:{port}/up")
        for _ in range(5):
            send_uplink(client)
        # Closed by the unreachable destination (a new connection is CLOSED for a moment too: wait for
        # the change event).
        wait_until(
            lambda: any(
                e["state"] == "CLOSED"
                for e in client.get("/_emulator/events", params={"kind": "connection.state"}).json()
            )
        )
    proc.stop()  # a clean restart
    proc = EmulatorProcess(tmp_path, token=proc.token).start()
    with proc.client() as client:
        assert client.get(f"/iot-flow/v1/connections/{cid}").json()["state"] == "CLOSED"
        send_uplink(client)  # accepted while closed, then the process dies
    proc.kill()
    proc = EmulatorProcess(tmp_path, token=proc.token).start()
    try:
        with proc.client() as client, Sink(port=port) as sink:
            pending = client.get(
                "/_emulator/deliveries", params={"connection": cid, "status": "pending"}
            ).json()
            assert len(pending) == 6
            client.post("/_emulator/clock/advance", json={"seconds": 3600})
            reqs = sink.wait_for(6)
            assert [r.json()["DevEUI_uplink"]["FCntUp"] for r in reqs] == list(range(6))
            wait_until(lambda: client.get(f"/iot-flow/v1/connections/{cid}").json()["state"] == "OPENED")
    finally:
        proc.stop()
