"""Crash safety of a real `iotcli emulate --data-dir` process.

"Accepted" means committed to SQLite before the 2xx is sent, so after a kill -9 and a restart on the same
data dir: every ingest call that got a 2xx is stored; every accepted uplink delivery is delivered or still
pending (none vanished), and the pending ones are delivered once the destination answers again.
A clean SIGTERM lets requests and delivery attempts in flight finish before the process exits.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks.soak import IngestResult, check_ingest, send_ingest, setup_ingest
from tests.harness import EmulatorProcess, Reply, Sink

DEVEUI = "0024AEB3C02BE1C4"


def deliveries(client: httpx.Client) -> list[dict[str, Any]]:
    r = client.get("/_emulator/deliveries", params={"kind": "uplink", "limit": 1000})
    assert r.status_code == 200, r.text
    return list(r.json())


def wait_until(predicate: Any, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def fcnt_ups(requests: list[Any]) -> list[int]:
    out = []
    for req in requests:
        body = json.loads(req.body)
        if "DevEUI_uplink" in body:
            out.append(int(body["DevEUI_uplink"]["FCntUp"]))
    return out


def test_kill_9_during_heavy_ingest_keeps_every_acknowledged_call(tmp_path: Path) -> None:
    """Each call also calls an endpoint (through the outbox): every stored call's endpoint call survives too."""
    state = tmp_path / "state"
    with Sink(default=200) as endpoint_sink:
        first = EmulatorProcess(state).start()
        try:
            with first.client() as client:
                device_token = setup_ingest(client, "crash", "crash")
                endpoint = {
                    "endpoint": "hook",
                    "type": "http_request",
                    "config": {"url": endpoint_sink.url, "method": "POST", "body_type": "json"},
                }
                assert client.post("/v1/users/local/endpoints", json=endpoint).is_success
                actions = {"write_bucket": "crash", "call_endpoint": "hook"}
                assert client.put(
                    "/v3/users/local/devices/crash/callback", json={"actions": actions}
                ).is_success
            result = IngestResult()
            killed = threading.Event()

            async def load() -> None:
                # Kill from inside the load, while 32 calls are in flight and commits are being grouped.
                async def watch() -> None:
                    while result.acknowledged < 400:
                        await asyncio.sleep(0.001)
                    first.proc.kill()  # type: ignore[union-attr]  - SIGKILL: no shutdown code runs
                    killed.set()

                watcher = asyncio.create_task(watch())
                await send_ingest(
                    first.url,
                    device_token,
                    5000,
                    32,
                    device="crash",
                    result=result,
                    should_stop=killed.is_set,
                )
                watcher.cancel()

            asyncio.run(load())
            assert killed.is_set(), "the load finished before the kill"
            first.proc.wait(10)  # type: ignore[union-attr]
            assert first.proc.returncode == -signal.SIGKILL  # type: ignore[union-attr]
        finally:
            first.kill()

        with EmulatorProcess(state) as second, second.client() as client:
            check_ingest(client, "crash", result)

            def endpoint_deliveries() -> list[dict[str, Any]]:
                r = client.get("/_emulator/deliveries", params={"kind": "endpoint", "limit": 10000})
                return list(r.json())

            # One endpoint call per stored record, none vanished; the pending ones go out after the restart.
            assert len(endpoint_deliveries()) == result.stored
            wait_until(
                lambda: all(d["status"] == "delivered" for d in endpoint_deliveries()), what="endpoint calls"
            )
        # (A request the kill cut off arrives without its body; the restart sends it again.)
        called = {json.loads(r.body)["i"] for r in endpoint_sink.requests if r.body}
        assert result.acked <= called  # at least once for every acknowledged call

    assert result.acknowledged >= 400
    assert result.lost == 0, f"{result.lost} acknowledged calls are not stored"
    assert result.duplicated == 0
    # Calls in flight at the kill may be stored without an answer; nothing beyond them.
    assert result.acknowledged <= result.stored <= result.sent


def test_kill_9_during_strict_mode_retries_loses_no_accepted_uplink(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Sink(default=500) as sink:
        # Emulated 2 s between strict-mode retries = 0.5 s real: the kill lands while retries are pending.
        first = EmulatorProcess(state, extra=["--time-scale", "0.25"]).start()
        try:
            with first.client() as client:
                r = client.post(
                    "/iot-flow/v1/connections",
                    json={
                        "connectorId": "actility-http-iot",
                        "name": "strict",
                        "configuration": {"destinationURL": sink.url, "strictMode": True},
                    },
                )
                assert r.status_code == 201, r.text
                accepted = []
                for n in range(6):
                    r = client.post(
                        "/_emulator/lorawan/uplinks",
                        json={"DevEUI": DEVEUI, "FPort": 1, "payload_hex": f"{n:04x}"},
                    )
                    assert r.status_code == 202, r.text
                    accepted.append(int(r.json()["FCntUp"]))
                sink.wait_for(6)  # every first attempt answered 500; retries are scheduled
        finally:
            first.kill()
        answered_500 = len(sink.requests)
        sink.default = Reply(200)

        with EmulatorProcess(state, extra=["--time-scale", "0.25"]) as second, second.client() as client:
            after_restart = deliveries(client)
            # None vanished: every accepted uplink has its delivery, delivered or still pending.
            assert len(after_restart) == len(accepted)
            assert {d["status"] for d in after_restart} <= {"pending", "delivered"}
            wait_until(
                lambda: all(d["status"] == "delivered" for d in deliveries(client)),
                what="every delivery delivered",
            )
        delivered_after = fcnt_ups(sink.requests[answered_500:])
        assert sorted(set(delivered_after)) == sorted(accepted)


def test_sigterm_drains_an_attempt_in_flight(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with Sink(default=Reply(200, delay=1.0)) as sink:
        first = EmulatorProcess(state).start()
        with first.client() as client:
            r = client.post(
                "/iot-flow/v1/connections",
                json={
                    "connectorId": "actility-http-iot",
                    "name": "slow",
                    "configuration": {"destinationURL": sink.url},
                },
            )
            assert r.status_code == 201, r.text
            r = client.post(
                "/_emulator/lorawan/uplinks", json={"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "01"}
            )
            assert r.status_code == 202, r.text
        sink.wait_for(1)  # the destination holds the answer for 1 s
        code = first.stop(signal.SIGTERM)
        _out, err = first.output()
        assert code == 0 and "Traceback" not in err

        with EmulatorProcess(state) as second, second.client() as client:
            [delivery] = deliveries(client)
            assert delivery["status"] == "delivered" and delivery["attempts"] == 1
            # Any retry delay passes at once; a real process has no idle hook over HTTP, so the worker
            # gets a moment of real time to send what the advance made due.
            assert client.post("/_emulator/clock/advance", json={"seconds": 60}).status_code == 200
            time.sleep(0.3)  # a resend, if any, would come now
        assert len(sink.requests) == 1


def test_sigterm_during_ingest_keeps_every_acknowledged_call(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = EmulatorProcess(state).start()
    with first.client() as client:
        device_token = setup_ingest(client, "term", "term")
    result = IngestResult()
    stopped = threading.Event()

    async def load() -> None:
        async def watch() -> None:
            while result.acknowledged < 300:
                await asyncio.sleep(0.001)
            first.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
            stopped.set()

        watcher = asyncio.create_task(watch())
        await send_ingest(first.url, device_token, 3000, 32, device="term", result=result)
        watcher.cancel()

    asyncio.run(load())
    assert stopped.is_set()
    assert first.proc.wait(20) == 0  # type: ignore[union-attr]

    with EmulatorProcess(state) as second, second.client() as client:
        check_ingest(client, "term", result)
    assert result.lost == 0 and result.duplicated == 0
    assert result.acknowledged <= result.stored


def test_sigterm_ends_event_streams_instead_of_waiting_for_them(tmp_path: Path) -> None:
    """An `events --follow` client must not hold a stopping emulator for the 10 s graceful timeout."""
    emu = EmulatorProcess(tmp_path / "state").start()
    ended = threading.Event()
    lines: list[str] = []

    def follow() -> None:
        headers = {"Authorization": f"Bearer {emu.token}"}
        with httpx.stream("GET", f"{emu.url}/_emulator/events?follow=1", headers=headers, timeout=30) as r:
            for line in r.iter_lines():
                lines.append(line)
        ended.set()  # the stream ended normally, not by a reset

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    wait_until(lambda: ": following" in lines, what="the follower to subscribe")
    began = time.monotonic()
    code = emu.stop(signal.SIGTERM)
    took = time.monotonic() - began
    _out, err = emu.output()
    assert code == 0 and "Traceback" not in err
    assert took < 5, f"stopping took {took:.1f} s"
    assert ended.wait(5)
