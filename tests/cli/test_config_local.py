"""The implicit local profile and finding a local emulator on any port (issue 17, items 3 and 4)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from iotcli.config import discovery_dir
from tests.conftest import Cli
from tests.harness import TEST_TOKEN, EmulatorProcess, InProcessEmulator, run_cli


def announce(port: int, token: str = "tok", pid: int | None = None, mtime: float | None = None) -> Path:
    d = discovery_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{port}.json"
    info = {"url": f"http://127.0.0.1:{port}", "user": "local", "token": token, "pid": pid or os.getpid()}
    path.write_text(json.dumps({**info, "future_key": {"tls": False}}))
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def test_config_list_shows_the_implicit_local_profile() -> None:
    r = run_cli(["config", "list"])
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines()[1].split("\t")[:2] == ["default", "yes"]
    rows = run_cli(["config", "list", "--json"]).json()["data"]
    assert rows[0]["name"] == "default" and rows[0]["active"] is True and rows[0]["implicit"] is True


def test_config_use_default_or_local_returns_to_the_local_profile() -> None:
    assert run_cli(["config", "set", "server", "https://acme.example", "--profile", "cloud"]).exit_code == 0
    assert run_cli(["config", "use", "cloud"]).exit_code == 0
    assert run_cli(["config", "show", "--json"]).json()["data"]["server"] == "https://acme.example"
    for name in ("default", "local"):
        r = run_cli(["config", "use", name])
        assert r.exit_code == 0, r.stderr
        assert "active profile: default" in r.stderr
        data = run_cli(["config", "show", "--json"]).json()["data"]
        assert (data["profile"], data["server"]) == ("default", "http://127.0.0.1:8100")
        rows = {row["name"]: row["active"] for row in run_cli(["config", "list", "--json"]).json()["data"]}
        assert rows == {"default": True, "cloud": False}
        assert run_cli(["config", "use", "cloud"]).exit_code == 0
    assert run_cli(["--profile", "local", "config", "show"]).exit_code == 0


def test_an_unknown_profile_is_still_refused() -> None:
    r = run_cli(["config", "use", "nope"])
    assert r.exit_code == 3 and "unknown profile 'nope'" in r.stderr


def test_one_running_emulator_on_any_port_is_found(emulator: InProcessEmulator) -> None:
    announce(18555, token=TEST_TOKEN)
    r = run_cli(["config", "show", "--json"])
    data = r.json()["data"]
    assert data["server"] == "http://127.0.0.1:18555" and "local emulator" in data["server_source"]
    assert data["token_source"] == "local emulator"
    r = run_cli(["device", "list", "--json"], transport=emulator.transport)
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""  # one emulator: nothing to say


def test_several_running_emulators_the_cli_says_which_and_how_to_pick() -> None:
    announce(18556, mtime=1_000)
    announce(18557, mtime=2_000)
    r = run_cli(["config", "show"])
    assert r.exit_code == 0
    assert "server         http://127.0.0.1:18557" in r.stdout  # the newest
    assert "2 local emulators run; using http://127.0.0.1:18557 (also: http://127.0.0.1:18556)" in r.stderr
    assert "--server URL or IOTCLI_SERVER" in r.stderr
    announce(8100, mtime=500)  # the default port wins over the newest
    assert run_cli(["config", "show", "--json"]).json()["data"]["server"] == "http://127.0.0.1:8100"


def test_an_announcement_of_a_dead_process_is_ignored() -> None:
    announce(18558, pid=2**22 + 12345)
    assert run_cli(["config", "show", "--json"]).json()["data"]["server"] == "http://127.0.0.1:8100"


def test_emulate_on_another_port_is_found_by_the_next_command(cli: Cli) -> None:
    """The banner says commands find it by themselves: with --port P they do (a real process)."""
    with EmulatorProcess(None) as emu:
        r = run_cli(["device", "create", "sensor-1", "--json"])
        assert r.exit_code == 0, r.stderr
        with emu.client() as http:
            assert http.get("/v1/users/local/devices/sensor-1").status_code == 200
    assert not (discovery_dir() / f"{emu.port}.json").exists()  # removed on the way out
