"""``iotcli wait ...`` and ``sink requests --follow`` against a real emulator process (the event stream
needs a real server: the in-process test client cannot stream), time scale 0.01."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from iotcli.client.api import ApiClient, make_http_client
from iotcli.errors import ConditionNotMet
from iotcli.waiting import EMULATOR, SinkRequests, wait_for
from tests.harness import CliResult, EmulatorProcess, run_cli

DEVEUI = "0018B20000000B20"


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    data = tmp_path_factory.mktemp("wait-data")
    with EmulatorProcess(None, extra=["--time-scale", "0.01"], env={"IOTCLI_DATA_DIR": str(data)}) as proc:
        yield proc


@pytest.fixture
def emu(real: EmulatorProcess) -> Iterator[EmulatorProcess]:
    with real.client() as c:
        assert c.post("/_emulator/reset").status_code == 200
    yield real


def cli(emu: EmulatorProcess, *args: str) -> CliResult:
    return run_cli(args, env={"IOTCLI_SERVER": emu.url, "IOTCLI_TOKEN": emu.token})


def later(seconds: float, action: Callable[[], Any]) -> threading.Thread:
    def run() -> None:
        time.sleep(seconds)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def post(emu: EmulatorProcess, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
    with emu.client() as c:
        return c.post(path, json=body, **kwargs)


def uplink(emu: EmulatorProcess, fport: int = 1) -> None:
    r = post(emu, "/_emulator/lorawan/uplinks", {"DevEUI": DEVEUI, "FPort": fport, "payload_hex": "01"})
    assert r.status_code == 202, r.text


def test_wait_sink_wakes_on_the_stream(emu: EmulatorProcess) -> None:
    assert cli(emu, "sink", "create", "app", "--respond", "503,503,200").exit_code == 0
    assert cli(emu, "connection", "create", "c", "--destination", "sink:app", "--strict").exit_code == 0
    later(0.3, lambda: uplink(emu))
    start = time.monotonic()
    r = cli(emu, "wait", "sink", "app", "--count", "3", "--timeout", "20s")
    assert r.exit_code == 0, r.stderr
    # Woken by the events (a quiet stream would have slept 10 s before looking again).
    assert time.monotonic() - start < 5
    assert "waited for sink 'app' to get 3 requests: 3 requests" in r.stderr
    r = cli(emu, "--json", "wait", "deliveries", "--status", "delivered", "--timeout", "5s")
    assert r.exit_code == 0 and r.json()["data"]["details"]["counts"] == {"delivered": 1}
    r = cli(
        emu, "wait", "sink", "app", "--field", "DevEUI_uplink.DevEUI=" + DEVEUI, "--count", "3", "-t", "5"
    )
    assert r.exit_code == 0, r.stderr
    r = cli(
        emu, "wait", "sink", "app", "--header", "content-type=application/json", "--count", "3", "-t", "5"
    )
    assert r.exit_code == 0, r.stderr


def test_a_condition_that_never_holds_exits_7_with_what_was_seen(emu: EmulatorProcess) -> None:
    cli(emu, "sink", "create", "app")
    post(emu, "/_emulator/sinks/app/in", {"DevEUI_uplink": {"FPort": 1}})
    start = time.monotonic()
    r = cli(emu, "wait", "sink", "app", "--count", "2", "--timeout", "0.5s")
    assert r.exit_code == 7
    assert 0.4 < time.monotonic() - start < 5
    assert (
        "timed out after 0.5s (wall time) waiting for sink 'app' to get 2 requests: last seen 1 request"
        in r.stderr
    )
    r = cli(emu, "wait", "sink", "app", "--field", "DevEUI_uplink.FPort=2", "--timeout", "0.3")
    assert r.exit_code == 7 and "last seen 0 requests matching DevEUI_uplink.FPort=2" in r.stderr
    r = cli(emu, "--json", "wait", "event", "no.such.kind", "--timeout", "0.2s")
    assert r.exit_code == 7 and r.json()["error"]["code"] == "condition"


def test_emulator_time_timeout_follows_the_scaled_clock(emu: EmulatorProcess) -> None:
    cli(emu, "sink", "create", "app")
    start = time.monotonic()
    r = cli(emu, "wait", "sink", "app", "--timeout", "60s", "--clock", "emulator")
    # 60 emulated seconds at time scale 0.01: 0.6 s of real time.
    assert r.exit_code == 7 and "(emulator time)" in r.stderr
    assert time.monotonic() - start < 5
    # A clock advance past the deadline ends the wait at once.
    later(0.3, lambda: post(emu, "/_emulator/clock/advance", {"seconds": 100_000}))
    start = time.monotonic()
    r = cli(emu, "wait", "sink", "app", "--timeout", "1000m", "--clock", "emulator")
    assert r.exit_code == 7 and time.monotonic() - start < 5


def test_wait_device_bucket_and_event(emu: EmulatorProcess) -> None:
    assert cli(emu, "device", "create", "sensor-1", "--bucket", "readings", "--timeout", "1").exit_code == 0
    url = "/v3/users/local/devices/sensor-1/callback/data"
    later(0.2, lambda: [post(emu, url, {"n": i}) for i in range(3)])
    r = cli(emu, "wait", "device", "sensor-1", "--connected", "--timeout", "5s")
    assert r.exit_code == 0, r.stderr
    r = cli(emu, "wait", "bucket", "readings", "--count", "3", "--timeout", "5s")
    assert r.exit_code == 0, r.stderr
    r = cli(emu, "wait", "event", "device.connected", "--timeout", "5s")
    assert r.exit_code == 0, r.stderr
    # The device times out after 1 minute without a call (0.6 s here).
    r = cli(emu, "wait", "device", "sensor-1", "--disconnected", "--timeout", "5m", "--clock", "emulator")
    assert r.exit_code == 0, r.stderr


def test_class_a_loop_back_and_wait_downlink(emu: EmulatorProcess) -> None:
    cli(emu, "sink", "create", "app", "--downlink-hex", "0a", "--fport", "2")
    cli(emu, "connection", "create", "c", "--destination", "sink:app")
    uplink(emu)
    r = cli(emu, "wait", "downlink", "--status", "queued", "--deveui", DEVEUI, "--timeout", "5s")
    assert r.exit_code == 0, r.stderr
    uplink(emu)  # the queued downlink goes out with it
    r = cli(emu, "wait", "downlink", "--status", "sent", "--timeout", "5s")
    assert r.exit_code == 0, r.stderr
    r = cli(emu, "wait", "sink", "app", "--field", "DevEUI_downlink_Sent.DeliveryStatus=1", "--timeout", "5s")
    assert r.exit_code == 0, r.stderr
    with emu.client() as c:
        requests = c.get("/_emulator/sinks/app/requests").json()
    assert requests[0]["answer"]["downlink"]["status"] == 202


def test_follow_prints_requests_as_they_arrive(emu: EmulatorProcess) -> None:
    cli(emu, "sink", "create", "app")
    post(emu, "/_emulator/sinks/app/in/first", {"n": 1})
    later(0.3, lambda: post(emu, "/_emulator/sinks/app/in/second", {"n": 2}))
    r = cli(emu, "--json", "sink", "requests", "app", "--follow", "--count", "2")
    assert r.exit_code == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if line]
    import json

    assert [json.loads(line)["path"] for line in lines] == ["/first", "/second"]


def test_bad_input(emu: EmulatorProcess) -> None:
    r = cli(emu, "wait", "sink", "nope", "--timeout", "1s")
    assert r.exit_code == 4 and "sink 'nope' not found" in r.stderr
    assert cli(emu, "wait", "deliveries", "--status", "lost").exit_code == 2
    assert cli(emu, "wait", "downlink", "--status", "gone").exit_code == 2
    assert cli(emu, "wait", "device", "d").exit_code == 2  # neither --connected nor --disconnected
    r = cli(emu, "wait", "sink", "x", "--timeout", "soon")
    assert r.exit_code == 2 and "--timeout: 'soon' is not a duration" in r.stderr
    assert cli(emu, "wait", "sink", "x", "--clock", "moon").exit_code == 2
    assert cli(emu, "wait", "sink", "x", "--field", "novalue").exit_code == 2


def test_the_library_waits_without_the_cli(emu: EmulatorProcess) -> None:
    with make_http_client(emu.url) as http:
        api = ApiClient(http, user="local", token=emu.token)
        api.create_sink("lib")
        later(0.2, lambda: post(emu, "/_emulator/sinks/lib/in", {"x": 1}))
        seen = wait_for(api, SinkRequests("lib", count=1), timeout=10)
        assert seen.done and seen.data == {"requests": 1}
        with pytest.raises(ConditionNotMet, match="last seen 1 request"):
            wait_for(api, SinkRequests("lib", count=2), timeout=30, clock=EMULATOR)


def test_detach_seed_and_stop(tmp_path: Path) -> None:
    env = tmp_path / "env.toml"
    env.write_text("[sinks.app]\nrespond = [503]\n\n[buckets.readings]\nname = 'Readings'\n")
    r = run_cli(["--json", "emulate", "--detach", "--in-memory", "--port", "0", "--seed", str(env)])
    assert r.exit_code == 0, r.stderr
    info = r.json()["data"]
    try:
        assert info["url"].startswith("http://127.0.0.1:") and info["seeded"].startswith("seeded from")
        with httpx.Client(base_url=info["url"], headers={"Authorization": f"Bearer {info['token']}"}) as c:
            assert c.get("/_emulator/sinks/app").json()["respond"] == [503]
            assert c.get("/v1/users/local/buckets/readings").status_code == 200
        # The CLI on this machine finds the token by itself.
        assert run_cli(["--server", info["url"], "sink", "list"]).exit_code == 0
    finally:
        stopped = run_cli(["--json", "emulator", "stop"])
    assert stopped.exit_code == 0, stopped.stderr
    assert stopped.json()["data"]["status"] == "stopped"
    with pytest.raises(httpx.ConnectError):
        httpx.get(info["url"] + "/_emulator/health", timeout=1)
    r = run_cli(["emulator", "stop"])
    assert r.exit_code == 2 and "no emulator started with `iotcli emulate --detach`" in r.stderr


def test_detach_with_a_bad_seed_file_starts_nothing(tmp_path: Path) -> None:
    env = tmp_path / "env.toml"
    env.write_text("[sinks.app]\nrespond = [700]\n")
    r = run_cli(["emulate", "--detach", "--in-memory", "--port", "0", "--seed", str(env)])
    assert r.exit_code == 2 and "env.toml:2: sinks.app.respond" in r.stderr
    assert run_cli(["emulator", "stop"]).exit_code == 2  # nothing was recorded


def test_detach_with_a_seed_the_server_refuses_reports_why(tmp_path: Path) -> None:
    env = tmp_path / "env.toml"
    env.write_text("[buckets.b]\nname = 'B'\nretention = { period = 1, unit = 'eons' }\n")
    r = run_cli(["emulate", "--detach", "--in-memory", "--port", "0", "--seed", str(env)])
    assert r.exit_code == 4, r.stderr
    assert "exited with code 4 before it was ready: POST /v1/users/local/buckets: 400" in r.stderr
    assert run_cli(["emulator", "stop"]).exit_code == 2  # it stopped itself: nothing is recorded
