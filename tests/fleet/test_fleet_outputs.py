"""fleet run --to (IoT Flow uplinks straight to an application server), --csv, and the live table on a
terminal; Locust runs in a subprocess against a real emulator on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from tests.fleet.test_fleet_run import bucket_count, iotcli
from tests.harness import EmulatorProcess, Sink


def test_to_sends_iot_flow_uplinks_with_the_emulators_downlink_url(
    emu: EmulatorProcess, tmp_path: Path
) -> None:
    with Sink() as app:
        with emu.client() as http:
            made = http.post(
                "/iot-flow/v1/connections",
                json={
                    "connectorId": "actility-http-iot",
                    "name": "app",
                    "configuration": {"destinationURL": app.url + "/uplink"},
                },
            )
            assert made.status_code == 201, made.text
            downlink_path = urlsplit(made.json()["downlinkUrl"]).path
        r = iotcli(
            emu,
            tmp_path,
            "--json",
            "fleet",
            "run",
            "--to",
            app.url + "/uplink",
            "--header",
            "X-App-Key: k1",
            "--users",
            "3",
            "--interval",
            "100ms",
            "--uplinks",
            "9",
            "--fport",
            "7",
            "--payload",
            '{"t": {{walk:temperature:18:25}}, "n": {{counter}}}',
        )
        assert r.returncode == 0, r.stderr
        result = json.loads(r.stdout)["data"]
        assert result["kind"] == "iotflow" and result["sent"] == 9 and result["errors"] == 0
        got = app.requests
    assert len(got) == 9
    assert all(req.path == "/uplink" and req.headers["x-app-key"] == "k1" for req in got)
    uplinks = [req.json()["DevEUI_uplink"] for req in got]
    by_device: dict[str, list[int]] = {}
    for up in uplinks:
        assert up["FPort"] == 7 and 18 <= up["payload"]["t"] <= 25 and up["Time"].endswith("Z")
        assert up["downlinkUrl"] == emu.url + downlink_path  # the emulator, where downlinks go
        by_device.setdefault(up["DevEUI"], []).append(up["FCntUp"])
    assert sorted(by_device) == ["70B3D57ED0000000", "70B3D57ED0000001", "70B3D57ED0000002"]
    for fcnts in by_device.values():
        assert sorted(fcnts) == list(range(len(fcnts)))  # FCntUp 0, 1, 2, ... per device


def test_csv_summary_matches_the_bucket(emu: EmulatorProcess, tmp_path: Path) -> None:
    assert (
        iotcli(
            emu, tmp_path, "fleet", "provision", "--count", "3", "--bucket", "fl", "--with-token"
        ).returncode
        == 0
    )
    r = iotcli(emu, tmp_path, "fleet", "run", "--csv", "--interval", "100ms", "--uplinks", "12", "--no-live")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == 1, r.stdout
    row = rows[0]
    assert row["kind"] == "http" and row["users"] == "3" and row["sent"] == "12" and row["errors"] == "0"
    assert float(row["p99_ms"]) >= float(row["p50_ms"]) > 0 and row["interrupted"] == "False"
    assert bucket_count(emu, "fl") == int(row["ok"])


def test_live_table_on_a_terminal(emu: EmulatorProcess, tmp_path: Path) -> None:
    assert iotcli(emu, tmp_path, "fleet", "provision", "--count", "2", "--with-token").returncode == 0
    main, child = pty.openpty()
    env = {
        **os.environ,
        "IOTCLI_CONFIG_DIR": str(tmp_path / "cfg"),
        "IOTCLI_SERVER": emu.url,
        "IOTCLI_TOKEN": emu.token,
        "COLUMNS": "100",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "iotcli", "fleet", "run", "--interval", "200ms", "--duration", "2.5s"],
        stdout=subprocess.PIPE,
        stderr=child,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    os.close(child)
    seen = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=30)
    os.close(main)
    assert proc.returncode == 0, seen
    screen = seen.decode(errors="replace")
    assert "rate (now)" in screen and "latency p50/p95/p99" in screen  # the live table, redrawn on stderr
    assert "rate (now)" not in out and "sent" in out  # stdout: only the summary
