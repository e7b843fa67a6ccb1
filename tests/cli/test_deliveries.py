"""``iotcli deliveries list|show|replay`` against the in-process emulator and a local sink."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from iotcli.emulator.settings import EmulatorSettings
from tests.conftest import Cli
from tests.harness import TEST_TOKEN, TEST_USER, InProcessEmulator, Reply, Sink

DEVEUI = "0018B20000000B20"


def connection(cli: Cli, sink: Sink, *flags: str) -> str:
    r = cli("--json", "connection", "create", "app", "--destination", f"{sink.url}/up", *flags)
    assert r.exit_code == 0, r.stderr
    cid: str = r.json()["data"]["id"]
    return cid


def uplink(emulator: InProcessEmulator, deveui: str = DEVEUI, **fields: Any) -> None:
    body = {"DevEUI": deveui, "FPort": 1, "payload_hex": "0102", **fields}
    r = emulator.http.post("/_emulator/lorawan/uplinks", json=body)
    assert r.status_code == 202, r.text


def test_dropped_then_replayed(cli: Cli, emulator: InProcessEmulator) -> None:
    with Sink(script=[Reply(500, "busy")]) as sink:
        cid = connection(cli, sink, "-H", "X-Thing={DevEUI}", "-H", "Authorization=Bearer s3cr3t")
        uplink(emulator)
        sink.wait_for(1)
        emulator.wait_idle()

        data = cli("--json", "deliveries", "list", "--status", "dropped").json()["data"]
        assert len(data) == 1 and data[0]["connection"] == cid and data[0]["device"] == DEVEUI
        did = data[0]["id"]

        r = cli("deliveries", "list")
        assert r.exit_code == 0
        row = r.stdout.splitlines()[1].split("\t")
        assert row[:5] == [did, "uplink", "dropped", f"{cid} / {DEVEUI}", "1"]

        r = cli("deliveries", "show", did)
        assert r.exit_code == 0, r.stderr
        out = r.stdout
        assert f"delivery {did}  uplink  DROPPED" in out
        assert f"  > POST {sink.url}/up" in out
        assert f"  > X-Thing: {DEVEUI}" in out  # the rendered header, as sent
        assert "  > Authorization: Bearer *****" in out and "s3cr3t" not in out
        assert '"DevEUI_uplink"' in out and "  < 500" in out and "  < busy" in out
        assert "-> 500 in " in out and " ms" in out

        r = cli("deliveries", "replay", did)
        assert r.exit_code == 0 and "queued again" in r.stderr
        sink.wait_for(2)
        emulator.wait_idle()
        record = cli("--json", "deliveries", "show", did).json()["data"]
        assert record["status"] == "delivered" and [a["status"] for a in record["attempt_log"]] == [500, 200]
        r = cli("deliveries", "show", did)
        assert "DELIVERED" in r.stdout and "attempt 2 " in r.stdout

        # a delivered one cannot be replayed
        r = cli("--json", "deliveries", "replay", did)
        assert r.exit_code == 4 and "only failed, dropped or expired" in r.json()["error"]["message"]


def test_filters_by_connection_device_and_limit(cli: Cli, emulator: InProcessEmulator) -> None:
    with Sink() as a, Sink() as b:
        ca, cb = connection(cli, a), connection(cli, b)
        uplink(emulator, connections=[ca])
        uplink(emulator, "0018B20000000B21", connections=[cb])
        uplink(emulator, "0018B20000000B21", connections=[cb])
        a.wait_for(1)
        b.wait_for(2)
        emulator.wait_idle()
        by_conn = cli("--json", "deliveries", "list", "--connection", cb).json()["data"]
        assert len(by_conn) == 2 and {d["connection"] for d in by_conn} == {cb}
        by_device = cli("--json", "deliveries", "list", "--device", DEVEUI).json()["data"]
        assert [d["connection"] for d in by_device] == [ca]
        assert len(cli("--json", "deliveries", "list", "--limit", "1").json()["data"]) == 1
        assert cli("--json", "deliveries", "list", "--status", "failed").json()["data"] == []
        assert cli("--json", "deliveries", "list", "--kind", "endpoint").json()["data"] == []


def test_show_and_replay_missing(cli: Cli) -> None:
    r = cli("deliveries", "show", "999")
    assert r.exit_code == 4 and "delivery 999 not found" in r.stderr
    r = cli("deliveries", "replay", "999")
    assert r.exit_code == 4 and "not found" in r.stderr
    r = cli("deliveries", "show", "abc")
    assert r.exit_code == 4 and "expected a number" in r.stderr


@pytest.fixture
def fast() -> Iterator[tuple[Cli, InProcessEmulator]]:
    settings = EmulatorSettings(data_dir=None, token=TEST_TOKEN, user=TEST_USER, time_scale=0.01)
    with InProcessEmulator(settings) as emu:
        yield Cli(emu), emu


def test_strict_mode_failure_shows_every_attempt(fast: tuple[Cli, InProcessEmulator]) -> None:
    cli, emulator = fast
    with Sink(default=Reply(503, "down")) as sink:
        connection(cli, sink, "--strict")
        uplink(emulator)
        sink.wait_for(4)
        emulator.wait_idle()
        data = cli("--json", "deliveries", "list", "--status", "failed").json()["data"]
        assert len(data) == 1 and data[0]["attempts"] == 4
        r = cli("deliveries", "show", data[0]["id"])
        assert r.exit_code == 0
        assert "FAILED" in r.stdout
        assert [line.split()[1] for line in r.stdout.splitlines() if line.startswith("attempt ")] == [
            "1",
            "2",
            "3",
            "4",
        ]
        assert r.stdout.count("  < 503") == 4
        r = cli("--json", "deliveries", "replay", data[0]["id"])
        assert r.exit_code == 0 and r.json() == {"data": {"id": data[0]["id"], "status": "pending"}}
        sink.wait_for(5)
