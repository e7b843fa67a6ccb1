"""fleet run's bad input: one line on stderr and exit 2 (or 3), before Locust is imported (in-process CLI)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import Cli


@pytest.fixture
def devices_file(cli: Cli, tmp_path: Path) -> str:
    path = str(tmp_path / "fleet.json")
    r = cli("fleet", "provision", "--count", "2", "--with-token", "--devices-file", path)
    assert r.exit_code == 0, r.stderr
    return path


def test_no_devices_file_or_no_tokens(cli: Cli, tmp_path: Path) -> None:
    missing = str(tmp_path / "none.json")
    r = cli("fleet", "run", "--devices-file", missing)
    assert r.exit_code == 2 and "no devices file" in r.stderr and "fleet provision" in r.stderr
    plain = str(tmp_path / "plain.json")
    assert cli("fleet", "provision", "--count", "2", "--devices-file", plain).exit_code == 0
    r = cli("fleet", "run", "--devices-file", plain)
    assert r.exit_code == 2 and "no tokens" in r.stderr and "--with-token" in r.stderr
    r = cli("fleet", "run", "--devices-file", plain, "--users", "3")
    assert r.exit_code == 2


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--interval", "soon"], "--interval"),
        (["--interval", "0s"], "--interval"),
        (["--jitter", "300%"], "jitter"),
        (["--uplinks", "0"], "--uplinks"),
        (["--duration", "0s"], "--duration"),
        (["--users", "3"], "--users 3"),
        (["--kind", "zigbee"], "zigbee"),
        (["--payload", "{{walk:t:9:1}}"], "--payload"),
        (["--csv", "--json"], "pick one"),
        (["--master", "--worker"], "pick one"),
        (["--master", "--expect-workers", "0"], "--expect-workers"),
        (["--worker", "--master-port", "70000"], "--master-port"),
        (["--worker", "--connect-timeout", "soon"], "--connect-timeout"),
        (["--to", "ftp://app.example"], "--to"),
        (["--kind", "http", "--to", "http://127.0.0.1:9/up"], "--kind lorawan"),
        (["--connection", "abc"], "go with --to"),
        (["--to", "http://127.0.0.1:9/up", "--header", "novalue"], "NAME:VALUE"),
        (["--to", "http://127.0.0.1:9/up", "--fport", "0"], "--fport"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    cli: Cli, devices_file: str, args: list[str], needle: str
) -> None:
    r = cli("fleet", "run", "--devices-file", devices_file, *args)
    assert r.exit_code == 2, (args, r.stdout, r.stderr)
    assert needle in r.stderr + r.stdout, (args, r.stderr)  # with --json the error is JSON on stdout
    assert "Traceback" not in r.stderr
    assert "locust" not in sys.modules and "gevent" not in sys.modules  # refused before the engine loads


def test_the_compose_example_runs_a_master_and_workers_with_real_options() -> None:
    """examples/fleet-compose.yml (not run here: no Docker): its fleet commands use options that exist."""
    import yaml  # type: ignore[import-untyped]

    from iotcli.cli.fleet import run

    doc = yaml.safe_load((Path(__file__).parents[2] / "examples" / "fleet-compose.yml").read_text())
    services = doc["services"]
    assert {"emulator", "provision", "master", "worker"} <= set(services)
    master, worker = services["master"]["command"], services["worker"]["command"]
    assert (
        "fleet run --master --expect-workers" in master
        and "fleet run --worker --master-host master" in worker
    )
    assert "iotcli fleet provision --count" in services["provision"]["command"]
    import inspect
    import re

    from iotcli.cli import fleet_options  # run's options are declared there

    known = set(re.findall(r'"(--[a-z-]+)"', inspect.getsource(run) + inspect.getsource(fleet_options)))
    for command in (master, worker):
        used = set(re.findall(r"(--[a-z][a-z-]+)", command.split("iotcli fleet run", 1)[1]))
        assert used <= known, used - known
