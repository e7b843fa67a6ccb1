"""Sinks on a real emulator process: timeouts and resets as a caller sees them, strict-mode retries
against a failing sink (time scale 0.01)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import EmulatorProcess


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    data = tmp_path_factory.mktemp("sinks-data")
    with EmulatorProcess(None, extra=["--time-scale", "0.01"], env={"IOTCLI_DATA_DIR": str(data)}) as proc:
        yield proc


def test_timeout_holds_the_request_and_reset_breaks_the_connection(real: EmulatorProcess) -> None:
    with real.client() as c:
        c.post("/_emulator/sinks", json={"name": "bad", "respond": ["timeout", "reset"], "default": 202})
    url = f"{real.url}/_emulator/sinks/bad/in"
    start = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json={"n": 1}, timeout=0.5)
    assert time.monotonic() - start >= 0.45
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(url, json={"n": 2}, timeout=5)
    assert httpx.post(url, json={"n": 3}, timeout=5).status_code == 202
    with real.client() as c:
        answers = [r["answer"]["outcome"] for r in c.get("/_emulator/sinks/bad/requests").json()]
    assert answers == ["timeout", "reset", "answered"]


def test_strict_mode_retries_against_a_failing_sink(real: EmulatorProcess, tmp_path: Path) -> None:
    with real.client() as c:
        sink = c.post("/_emulator/sinks", json={"name": "flaky", "respond": [503, 503, 200]}).json()
        body = {
            "connectorId": "actility-http-iot",
            "name": "strict",
            "configuration": {"destinationURL": sink["url"], "strictMode": True},
        }
        cid = c.post("/iot-flow/v1/connections", json=body).json()["id"]
        r = c.post(
            "/_emulator/lorawan/uplinks", json={"DevEUI": "0018B20000000B20", "FPort": 1, "payload_hex": "01"}
        )
        assert r.status_code == 202
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done = c.get("/_emulator/deliveries", params={"connection": cid, "status": "delivered"}).json()
            if done:
                break
            time.sleep(0.05)
        assert done and done[0]["attempts"] == 3
        got = c.get("/_emulator/sinks/flaky/requests").json()
    assert [r["answer"]["status"] for r in got] == [503, 503, 200]
    # Resent 2 s apart on the emulator clock.
    assert 1900 <= got[1]["ts"] - got[0]["ts"] <= 4000
