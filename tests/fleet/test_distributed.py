"""fleet run --master / --worker: Locust's distributed mode, one master and two worker processes on
127.0.0.1 against a real emulator; the devices are split across the workers, the counts add up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from tests.fleet.test_fleet_run import iotcli
from tests.harness import EmulatorProcess, free_port


def spawn(emu: EmulatorProcess, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "IOTCLI_CONFIG_DIR": str(tmp_path / "cfg"),
        "IOTCLI_SERVER": emu.url,
        "IOTCLI_TOKEN": emu.token,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "iotcli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )


def stored(emu: EmulatorProcess, bucket: str) -> list[dict[str, object]]:
    with emu.client() as http:
        rows = http.get(f"/v1/users/local/buckets/{bucket}/data", params={"items": 1000}).json()
    return [r["val"] for r in rows]


def test_a_master_and_two_workers_split_the_fleet_and_the_counts_add_up(
    emu: EmulatorProcess, tmp_path: Path
) -> None:
    r = iotcli(emu, tmp_path, "fleet", "provision", "--count", "6", "--bucket", "fl", "--with-token")
    assert r.returncode == 0, r.stderr
    port = str(free_port())
    master = spawn(
        emu,
        tmp_path,
        "--json",
        "fleet",
        "run",
        "--master",
        "--expect-workers",
        "2",
        "--master-bind-host",
        "127.0.0.1",
        "--master-port",
        port,
        "--interval",
        "100ms",
        "--uplinks",
        "31",
        "--payload",
        '{"device": "{{device}}", "n": {{counter}}}',
    )
    workers = [spawn(emu, tmp_path, "fleet", "run", "--worker", "--master-port", port) for _ in range(2)]
    try:
        out, err = master.communicate(timeout=40)
        assert master.returncode == 0, err
        worker_out = [w.communicate(timeout=20) for w in workers]
    finally:
        for p in (master, *workers):
            if p.poll() is None:
                p.kill()
    assert [w.returncode for w in workers] == [0, 0], worker_out
    result = json.loads(out)["data"]
    assert result["workers"] == 2 and result["users"] == 6
    assert result["sent"] == 31 and result["ok"] == 31 and result["errors"] == 0 and result["unfinished"] == 0
    # A per-process budget: 31 uplinks as 16 + 15, and what the workers counted is what the master summed.
    per_worker = result["per_worker"]
    assert sorted(w["sent"] for w in per_worker) == [15, 16]
    assert sum(w["ok"] for w in per_worker) == result["ok"]
    for _out, werr in worker_out:
        assert "uplinks sent" in werr
    # What the emulator stored: every uplink once, every device played by exactly one worker
    # (a device played twice would repeat its counter values).
    rows = stored(emu, "fl")
    assert len(rows) == result["ok"]
    counters: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        counters[str(row["device"])].append(int(row["n"]))  # type: ignore[call-overload]
    assert set(counters) == {f"sim-{i:04d}" for i in range(1, 7)}
    for device, ns in counters.items():
        assert sorted(ns) == list(range(1, len(ns) + 1)), (device, ns)


def test_a_worker_without_a_master_is_a_network_error(emu: EmulatorProcess, tmp_path: Path) -> None:
    started = time.monotonic()
    r = iotcli(
        emu,
        tmp_path,
        "fleet",
        "run",
        "--worker",
        "--master-port",
        str(free_port()),
        "--connect-timeout",
        "1s",
    )
    assert r.returncode == 6, r.stderr
    assert "no master answered at 127.0.0.1:" in r.stderr and "Traceback" not in r.stderr
    assert time.monotonic() - started < 15
    r = iotcli(emu, tmp_path, "fleet", "run", "--worker", "--master-host", "no-such-host.invalid")
    assert r.returncode == 6 and "cannot resolve" in r.stderr, r.stderr


def test_a_master_without_its_workers_is_a_network_error(emu: EmulatorProcess, tmp_path: Path) -> None:
    assert iotcli(emu, tmp_path, "fleet", "provision", "--count", "2", "--with-token").returncode == 0
    port = str(free_port())
    r = iotcli(emu, tmp_path, "fleet", "run", "--master", "--master-port", port, "--wait-workers", "1s")
    assert r.returncode == 6, r.stderr
    assert "0 of 1 workers connected within 1 s" in r.stderr and "--worker" in r.stderr
