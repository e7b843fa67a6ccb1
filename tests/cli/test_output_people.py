"""Output for people (issue 17, item 5): local ISO 8601 times, nested fields, '-' for empty and null,
empty lists that say so with a hint."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from iotcli.cli.output import format_value, ms_to_iso
from tests.conftest import Cli

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)"


@pytest.fixture
def paris(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_are_local_iso_8601_with_the_offset(paris: None) -> None:
    assert ms_to_iso(1_700_000_000_123) == "2023-11-14T23:13:20.123+01:00"
    assert ms_to_iso(1_690_000_000_000) == "2023-07-22T06:26:40.000+02:00"


def test_emulator_clock_prints_times_not_epoch_floats(cli: Cli, paris: None) -> None:
    r = cli("emulator", "clock")
    assert r.exit_code == 0, r.stderr
    now = next(line for line in r.stdout.splitlines() if line.startswith("now"))
    assert re.fullmatch(rf"now\s+{ISO}", now) and now.endswith(("+01:00", "+02:00")), now
    assert not re.search(r"\d{10}\.\d", r.stdout)
    data = cli("emulator", "clock", "--json").json()["data"]
    assert isinstance(data["now"], float)  # scripts keep the numbers


def test_device_show_renders_connection_as_fields(cli: Cli) -> None:
    assert cli("device", "create", "sensor-1", "--bucket", "b").exit_code == 0
    assert cli("send-uplink", "--device", "sensor-1", "t:=1").exit_code == 0
    r = cli("device", "show", "sensor-1")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    i = lines.index("connection")
    assert re.fullmatch(r"  active\s+yes", lines[i + 1]), lines
    assert re.fullmatch(rf"  ts\s+{ISO}", lines[i + 2]), lines
    assert "{" not in r.stdout


def test_empty_and_null_look_the_same() -> None:
    assert {format_value(v) for v in (None, "", [], {})} == {"-"}
    assert format_value(0) == "0" and format_value(False) == "no"


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["device", "list"], "no devices yet: iotcli device create"),
        (["bucket", "list"], "no buckets yet: iotcli bucket create"),
        (["endpoint", "list"], "no endpoints yet: iotcli endpoint create"),
        (["connection", "list"], "no connections yet: iotcli connection create"),
        (["deliveries", "list"], "no deliveries yet"),
        (["downlink", "list"], "no downlinks yet"),
    ],
)
def test_an_empty_list_says_so_with_a_hint(cli: Cli, args: list[str], hint: str) -> None:
    r = cli(*args)
    assert r.exit_code == 0, r.stderr
    assert hint in r.stderr
    r = cli(*args, "--json")
    assert r.json() == {"data": []} and r.stderr == ""


def test_an_empty_bucket_and_token_list_say_so(cli: Cli) -> None:
    assert cli("device", "create", "d1", "--bucket", "readings").exit_code == 0
    assert "no records in bucket 'readings' yet" in cli("bucket", "read", "readings").stderr
    assert "no properties yet" in cli("property", "list", "d1").stderr
    assert "no tokens yet: iotcli device token create" in cli("device", "token", "list", "d1").stderr
