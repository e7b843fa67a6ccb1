"""iotcli.fleet's Locust-free parts: templates with per-device state, durations, jitter; no Locust at start-up."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from iotcli.fleet.schedule import Interval, parse_duration, parse_jitter
from iotcli.fleet.template import DeviceState, FleetTemplate


def test_template_keeps_state_per_device() -> None:
    t = FleetTemplate(
        '{"d": "{{device}}", "n": {{counter}}, "k": {{counter:k}}, "i": {{i}}, "f": {{fcnt}},'
        ' "t": {{walk:temperature:18:25}}, "r": {{random:1:3}}, "x": "{{field}}"}'
    )
    a, b = DeviceState("sim-0001", rng=random.Random(1)), DeviceState("sim-0002", rng=random.Random(2))
    first_a = json.loads(t.render(a, a.next_uplink()))
    first_b = json.loads(t.render(b, b.next_uplink()))
    second_a = json.loads(t.render(a, a.next_uplink()))
    assert (first_a["d"], first_b["d"]) == ("sim-0001", "sim-0002")
    assert [first_a[k] for k in "nkif"] == [1, 1, 1, 0]
    assert [second_a[k] for k in "nkif"] == [2, 2, 2, 1]  # FCntUp of the 2nd uplink is 1
    assert [first_b[k] for k in "nkif"] == [1, 1, 1, 0]  # b's own counters
    assert first_a["x"] == "{{field}}" and 1 <= first_a["r"] <= 3
    temps = [first_a["t"], second_a["t"]]
    for _ in range(200):
        temps.append(json.loads(t.render(a, a.next_uplink()))["t"])
    assert all(18 <= v <= 25 for v in temps)
    steps = [abs(x - y) for x, y in zip(temps, temps[1:], strict=False)]
    assert max(steps) <= (25 - 18) / 20 + 0.011  # a walk, not a fresh draw each time
    assert len(set(temps)) > 10


@pytest.mark.parametrize("bad", ["{{walk:t:5:1}}", "{{walk:t:1}}", "{{walk:t:a:b}}"])
def test_a_bad_walk_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="walk"):
        FleetTemplate(bad)


def test_durations_and_jitter() -> None:
    assert parse_duration("60s") == 60 and parse_duration("500ms") == 0.5
    assert parse_duration("2m") == 120 and parse_duration("1h") == 3600 and parse_duration("3") == 3
    for bad in ("", "abc", "-1s", "5 days"):
        with pytest.raises(ValueError, match="duration"):
            parse_duration(bad)
    assert parse_jitter("20%") == pytest.approx(0.2) and parse_jitter("0.5") == 0.5
    for bad in ("150%", "x", "-1"):
        with pytest.raises(ValueError, match="jitter"):
            parse_jitter(bad)
    rng = random.Random(7)
    waits = [Interval(60, 0.2).next_wait(rng) for _ in range(500)]
    assert 48 <= min(waits) < 50 and 70 < max(waits) <= 72
    assert Interval(10).next_wait() == 10
    assert all(0 <= Interval(10).first_wait(rng) <= 10 for _ in range(50))


def test_the_cli_and_the_fleet_helpers_never_import_locust() -> None:
    probe = (
        "import sys\n"
        "from iotcli.cli.app import build_app\n"
        "build_app()\n"
        "import iotcli.fleet, iotcli.fleet.template, iotcli.fleet.schedule, iotcli.fleet.devices\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
