"""`iotcli emulate` as a real process: start, serve, stop cleanly; errors at start are one line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from iotcli.config import discovery_dir
from tests.harness import EmulatorProcess, run_cli


def test_start_serve_and_clean_sigterm(tmp_path: Path) -> None:
    emu = EmulatorProcess(tmp_path / "state").start()
    try:
        with emu.client() as c:
            assert c.get("/_emulator/health").json()["status"] == "ok"
            assert c.post("/_emulator/clock/advance", json={"seconds": 5}).status_code == 200
        announce = json.loads((discovery_dir() / f"{emu.port}.json").read_text())
        assert announce["url"] == emu.url and announce["token"] == emu.token
        # The CLI finds the running emulator's token without configuration.
        r = run_cli(["--server", emu.url, "--json", "emulator", "clock"])
        assert r.exit_code == 0, r.stderr
        assert (tmp_path / "state" / "emulator.db").exists()
    finally:
        code = emu.stop(signal.SIGTERM)
    out, err = emu.output()
    assert code == 0, err
    assert "Traceback" not in err
    assert emu.url in out and "token" in out
    assert not (discovery_dir() / f"{emu.port}.json").exists()


def test_sigint_stops_cleanly(tmp_path: Path) -> None:
    emu = EmulatorProcess(None).start()
    code = emu.stop(signal.SIGINT)
    _out, err = emu.output()
    assert code == 0 and "Traceback" not in err


def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with EmulatorProcess(None) as first:
        r = subprocess.run(
            [sys.executable, "-m", "iotcli", "emulate", "--port", str(first.port), "--in-memory"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert r.returncode != 0
        lines = [line for line in r.stderr.splitlines() if line.startswith("error:")]
        assert lines == [f"error: port {first.port} on 127.0.0.1 is already in use"]
        assert "Traceback" not in r.stderr


def test_generated_token_is_kept_in_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "state"
    port_args = ["--data-dir", str(data)]
    emu = EmulatorProcess(None, extra=port_args)
    emu.args = [a for a in emu.args if a not in ("--in-memory",)]
    i = emu.args.index("--token")
    del emu.args[i : i + 2]
    emu.start()
    try:
        token = json.loads((data / "account.json").read_text())["token"]
        assert (data / "account.json").stat().st_mode & 0o777 == 0o600
        r = httpx.get(f"{emu.url}/_emulator/clock", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
    finally:
        emu.stop()
    out, _ = emu.output()
    assert token in out  # the banner shows it


def test_non_loopback_host_needs_a_token() -> None:
    r = run_cli(["emulate", "--host", "0.0.0.0", "--in-memory", "--port", "0"])
    assert r.exit_code == 2 and "--token" in r.stderr
