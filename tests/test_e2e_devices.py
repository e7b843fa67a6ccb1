"""End to end: a real `iotcli emulate`, `iotcli device create ... --with-token`, and the printed curl command."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from typing import Any

import pytest

from tests.harness import EmulatorProcess

CURL = shutil.which("curl") or ("/usr/bin/curl" if os.path.exists("/usr/bin/curl") else None)


class Iotcli:
    """``iotcli ARGS`` as a subprocess (python -m iotcli), pointed at the emulator by env."""

    def __init__(self, emu: EmulatorProcess) -> None:
        self.env = {**os.environ, "IOTCLI_SERVER": emu.url, "IOTCLI_TOKEN": emu.token}
        if CURL:
            self.env["PATH"] = os.path.dirname(CURL) + os.pathsep + self.env.get("PATH", "")

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(
            [sys.executable, "-m", "iotcli", *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        assert r.returncode == 0, f"iotcli {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}"
        return r

    def json(self, *args: str) -> Any:
        r = self("--json", *args)
        try:
            return json.loads(r.stdout)["data"]
        except (ValueError, KeyError):
            raise AssertionError(
                f"iotcli --json {' '.join(args)} printed {r.stdout!r} {r.stderr!r}"
            ) from None


@pytest.mark.skipif(CURL is None, reason="curl is not installed: this test runs the printed curl command")
def test_http_device_end_to_end() -> None:
    with EmulatorProcess(None) as emu:
        iotcli = Iotcli(emu)
        r = iotcli(
            "device", "create", "sensor-1", "--bucket", "readings", "--property", "last",
            "--response-property", "command", "--timeout", "5", "--with-token",
        )  # fmt: skip
        assert f"{emu.url}/v3/users/local/devices/sensor-1/callback/data" in r.stdout
        curl = [line for line in r.stdout.splitlines() if line.startswith("curl ")]
        assert len(curl) == 1, r.stdout
        argv = shlex.split(curl[0])
        payload = json.loads(argv[argv.index("-d") + 1])

        iotcli("property", "set", "sensor-1", "command", '{"led": "on", "interval": 60}')

        # the curl command exactly as printed, run by a shell
        sent = subprocess.run(curl[0], shell=True, capture_output=True, text=True, timeout=30, env=iotcli.env)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.strip(), f"empty answer from the callback: {sent.stderr}"
        assert json.loads(sent.stdout) == {"led": "on", "interval": 60}  # the answer = the response property

        records = iotcli.json("bucket", "read", "readings")
        assert [rec["val"] for rec in records] == [payload]
        assert iotcli.json("property", "get", "sensor-1", "last")["value"] == payload
        assert iotcli.json("device", "stats", "sensor-1")["connected"] is True

        with emu.client() as http:
            advanced = http.post("/_emulator/clock/advance", json={"seconds": 5 * 60 + 1})
            assert advanced.status_code == 200, advanced.text
        r = iotcli("device", "stats", "sensor-1")
        assert any(line.split() == ["connected", "no"] for line in r.stdout.splitlines()), r.stdout
