"""iotcli fleet run: Locust in a subprocess (gevent monkey-patching stays out of the test process)
against a real emulator on 127.0.0.1; the summary's counts against what the emulator stored."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.harness import EmulatorProcess


def iotcli(
    emu: EmulatorProcess, tmp_path: Path, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "IOTCLI_CONFIG_DIR": str(tmp_path / "cfg"),
        "IOTCLI_SERVER": emu.url,
        "IOTCLI_TOKEN": emu.token,
    }
    return subprocess.run(
        [sys.executable, "-m", "iotcli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=tmp_path,
    )


def bucket_count(emu: EmulatorProcess, bucket: str) -> int:
    with emu.client() as http:
        return len(http.get(f"/v1/users/local/buckets/{bucket}/data", params={"items": 1000}).json())


def test_run_sends_the_uplinks_and_the_summary_matches_the_bucket(
    emu: EmulatorProcess, tmp_path: Path
) -> None:
    r = iotcli(emu, tmp_path, "fleet", "provision", "--count", "4", "--bucket", "fl", "--with-token")
    assert r.returncode == 0, r.stderr
    r = iotcli(
        emu,
        tmp_path,
        "--json",
        "fleet",
        "run",
        "--interval",
        "100ms",
        "--jitter",
        "20%",
        "--uplinks",
        "20",
        "--payload",
        '{"d": "{{device}}", "n": {{counter}}, "t": {{walk:temperature:18:25}}}',
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)["data"]
    assert result["sent"] >= 20 and result["errors"] == 0 and result["ok"] == result["sent"]
    assert result["users"] == 4 and result["latency_ms"]["p50"] is not None and result["rate_per_s"] > 0
    stored = bucket_count(emu, "fl")
    assert stored == result["ok"] and result["unfinished"] == 0
    tokens = json.loads((tmp_path / "fleet-devices.json").read_text())["devices"]
    assert not any(d["token"] in r.stdout + r.stderr for d in tokens)


def test_errors_are_counted_by_kind(emu: EmulatorProcess, tmp_path: Path) -> None:
    assert iotcli(emu, tmp_path, "fleet", "provision", "--count", "2", "--with-token").returncode == 0
    file = tmp_path / "fleet-devices.json"
    data = json.loads(file.read_text())
    data["devices"][0]["token"] = "wrong"
    file.write_text(json.dumps(data))
    r = iotcli(emu, tmp_path, "--json", "fleet", "run", "--interval", "100ms", "--uplinks", "10")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)["data"]
    assert result["errors"] >= 1 and set(result["errors_by_kind"]) <= {"HTTP 401", "HTTP 403"}
    assert result["ok"] + result["errors"] == result["sent"]


def test_lorawan_devices_go_through_the_emulator_ingress(emu: EmulatorProcess, tmp_path: Path) -> None:
    r = iotcli(
        emu,
        tmp_path,
        "--json",
        "fleet",
        "run",
        "--kind",
        "lorawan",
        "--users",
        "3",
        "--interval",
        "100ms",
        "--uplinks",
        "9",
    )
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)["data"]
    assert result["sent"] >= 9 and result["errors"] == 0


def test_ctrl_c_stops_the_fleet_and_prints_the_summary(emu: EmulatorProcess, tmp_path: Path) -> None:
    assert (
        iotcli(
            emu, tmp_path, "fleet", "provision", "--count", "2", "--bucket", "fl", "--with-token"
        ).returncode
        == 0
    )
    env = {
        **os.environ,
        "IOTCLI_CONFIG_DIR": str(tmp_path / "cfg"),
        "IOTCLI_SERVER": emu.url,
        "IOTCLI_TOKEN": emu.token,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "iotcli", "--json", "fleet", "run", "--interval", "100ms"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 20
    while bucket_count(emu, "fl") < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    result = json.loads(out)["data"]
    assert result["interrupted"] is True and result["sent"] >= 3
    time.sleep(0.3)
    assert bucket_count(emu, "fl") == result["ok"]  # nothing is sent after the summary


def test_without_locust_run_says_how_to_install_it(emu: EmulatorProcess, tmp_path: Path) -> None:
    blocker = tmp_path / "nolocust"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nclass _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'locust' or name.startswith('locust.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, _Block())\n"
    )
    assert iotcli(emu, tmp_path, "fleet", "provision", "--count", "1", "--with-token").returncode == 0
    env = {
        **os.environ,
        "PYTHONPATH": str(blocker),
        "IOTCLI_SERVER": emu.url,
        "IOTCLI_TOKEN": emu.token,
        "IOTCLI_CONFIG_DIR": str(tmp_path / "cfg"),
    }
    r = subprocess.run(
        [sys.executable, "-m", "iotcli", "fleet", "run", "--uplinks", "1"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 3, r.stderr
    assert "pip install 'iotcli[fleet]'" in r.stderr and "Traceback" not in r.stderr
