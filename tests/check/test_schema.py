"""Scenario files are checked whole before anything runs; a bad one names file, step and key (exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from iotcli.check import ScenarioError, load_scenarios, parse_scenario
from iotcli.errors import ExitCode

GOOD_STEP = '[[step]]\nname = "s"\nadvance = 1\n'


def error_of(text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, "sc.toml")
    assert info.value.exit_code == ExitCode.USAGE
    return info.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name = 1\n" + GOOD_STEP, "sc.toml: name: must be a string"),
        ("nmae = 'x'\n" + GOOD_STEP, "sc.toml: nmae: unknown key"),
        ("name = 'x'\n", "sc.toml: step: needs at least one [[step]] table"),
        ("[[step]]\nadvance = 1\n", "sc.toml: step 1 'step 1': name: every step needs a name"),
        (
            '[[step]]\nname = "a"\nadvance = 1\nwait = { bucket = "b" }\n',
            "step 1 'a': wait: a step does one thing",
        ),
        ('[[step]]\nname = "a"\n', "step 1 'a': does nothing and checks nothing"),
        (GOOD_STEP + '[[step]]\nname = "s"\nadvance = 2\n', "step 2 's': name: another step has this name"),
        ('[[step]]\nname = "a"\nupload = {}\n', "step 1 'a': upload: unknown key"),
        ('[[step]]\nname = "a"\nuplink = { data = {} }\n', "step 1 'a': uplink.device: required"),
        (
            '[[step]]\nname = "a"\nuplink = { device = "d", repeat = 0 }\n',
            "uplink.repeat: must be an integer of 1 or more",
        ),
        (
            '[[step]]\nname = "a"\nlorawan = { deveui = "00", fport = "1" }\n',
            "lorawan.fport: must be an integer, not a string",
        ),
        (
            '[[step]]\nname = "a"\nlorawan = { deveui = "00", fport = 1 }\n',
            "lorawan: needs payload_hex (hex digits) or payload",
        ),
        ('[[step]]\nname = "a"\ndownlink = { FPort = 1 }\n', "downlink: names where it goes"),
        ('[[step]]\nname = "a"\ndownlink = { url = "u", Fport = 1 }\n', "downlink.Fport: unknown key"),
        ('[[step]]\nname = "a"\nadvance = "soon"\n', "step 1 'a': advance: 'soon' is not a duration"),
        ('[[step]]\nname = "a"\nadvance = -1\n', "advance: must be more than 0 seconds"),
        ('[[step]]\nname = "a"\nwait = { count = 2 }\n', "wait: names one thing to wait for"),
        ('[[step]]\nname = "a"\nwait = { deliveries = "done" }\n', "wait.deliveries: must be one of pending"),
        (
            '[[step]]\nname = "a"\nwait = { sink = "s", clock = "cpu" }\n',
            "wait.clock: must be 'wall' or 'emulator'",
        ),
        ('[[step]]\nname = "a"\nwait = { sink = "s", field = "x" }\n', "wait.field: must be NAME=VALUE"),
        ('[[step]]\nname = "a"\nwait = { device = "d" }\n', "wait.connected: required"),
        ('[[step]]\nname = "a"\nexpect = [{ count = 1 }]\n', "step 1 'a': expect[1]: names what is checked"),
        ('[[step]]\nname = "a"\nexpect = [{ bucket = "b", cuont = 1 }]\n', "expect[1].cuont: unknown key"),
        (
            '[[step]]\nname = "a"\nexpect = [{ bucket = "b", count = -1 }]\n',
            "expect[1].count: must be a count",
        ),
        ('[[step]]\nname = "a"\nexpect = [{ property = "p" }]\n', "expect[1].device: required"),
        (
            '[[step]]\nname = "a"\nexpect = [{ response = 200 }]\n',
            "expect[1].response: checks the answer of this step's action",
        ),
        (
            '[[step]]\nname = "a"\nexpect = [{ sink = "s", fields = { "$.[" = 1 } }]\n',
            "expect[1].fields.$.[: '$.[' is not a JsonPath",
        ),
        (
            '[[step]]\nname = "a"\nexpect = [{ sink = "s", method = { ge = "x" } }]\n',
            "expect[1].method: ge: must be a number",
        ),
        (
            '[[step]]\nname = "a"\nexpect = [{ sink = "s", method = { matches = "(" } }]\n',
            "expect[1].method: matches: not a regular expression",
        ),
        (
            '[[step]]\nname = "a"\nexpect = [{ deliveries = "done" }]\n',
            "expect[1].deliveries: must be one of any",
        ),
        (
            '[[step]]\nname = "a"\nexpect = [{ downlinks = "sent", cause = { within = 1 } }]\n',
            "expect[1].cause: 'within' goes with 'approx'",
        ),
        ('[[step]]\nname = "a"\nexpect = [{ device = "d" }]\n', "expect[1].connected: required"),
        (
            '[[step]]\nname = "a"\nadvance = 1\ncapture = { t = 3 }\n',
            "capture.t: must be a JsonPath on the step's answer",
        ),
        ('[[step]]\nname = "a"\nadvance = 1\ncapture = { t = { sink = "s" } }\n', "capture.t.path: required"),
        ('[[step]]\nname = "a"\nadvance = 1\nwithin = "x"\n', "within: 'x' is not a duration"),
        ("[setup]\nfoo = 1\n" + GOOD_STEP, "sc.toml: setup.foo: unknown key"),
        (
            '[[step]]\nname = "a"\nuplink = { device = "d", data = { t = "{{tok}}" } }\ncapture = { tok = "$.x" }\n',
            "step 1 'a': uplink.data.t: {{tok}} is not a var, a setup token or an earlier step's capture (known: none)",
        ),
        (
            'vars = { d = "x" }\n[[step]]\nname = "a"\nexpect = { sink = "{{d}}", headers = { X = "{{tokens.x.y}}" } }\n',
            "step 1 'a': expect.headers.X: {{tokens.x.y}} is not a var, a setup token or an earlier step's capture (known: d)",
        ),
        ("[setup.devices.d]\ntype = 'Radio'\n" + GOOD_STEP, "sc.toml: setup.devices.d.type"),
        ("name = [\n", "sc.toml: not valid TOML"),
    ],
)
def test_a_bad_scenario_names_file_step_and_key(text: str, expected: str) -> None:
    assert expected in error_of(text)


def test_setup_apply_files_are_read_relative_to_the_scenario(tmp_path: Path) -> None:
    (tmp_path / "env.toml").write_text("[buckets.b]\nconfig = { source = 'write' }\n")
    (tmp_path / "sc.toml").write_text('[setup]\napply = "env.toml"\n' + GOOD_STEP)
    (scenario,) = load_scenarios([tmp_path / "sc.toml"])
    assert scenario.setup is not None and "b" in scenario.setup.envs[0].names("buckets")
    (tmp_path / "bad.toml").write_text('[setup]\napply = "missing.toml"\n' + GOOD_STEP)
    with pytest.raises(ScenarioError, match=r"bad.toml: setup.apply: cannot read .*missing.toml"):
        load_scenarios([tmp_path / "bad.toml"])


def test_placeholders_may_name_vars_setup_tokens_and_earlier_captures() -> None:
    parse_scenario(
        'vars = { d = "x" }\n[setup.devices.s]\ntokens = ["ci"]\n'
        '[[step]]\nname = "a"\nuplink = { device = "{{d}}", token = "{{tokens.s.ci}}", data = { n = "{{i}}", r = "{{random:1:2}}" } }\n'
        'capture = { got = "$.v" }\n'
        '[[step]]\nname = "b"\nexpect = { bucket = "b", value = "{{got}}" }\n',
        "ok.toml",
    )


def test_a_good_scenario_parses_into_steps() -> None:
    scenario = parse_scenario(
        'name = "N"\nvars = { d = "x" }\n'
        '[[step]]\nname = "one"\nuplink = { device = "{{d}}", repeat = 2 }\n'
        'expect = { response = 200 }\nwithin = "2s"\n'
        '[[step]]\nname = "two"\nwait = { sink = "s", timeout = "1m" }\n',
        "f.toml",
    )
    assert scenario.name == "N" and scenario.vars == {"d": "x"}
    one, two = scenario.steps
    assert (one.action, one.within, one.expect) == ("uplink", 2.0, [("response", {"response": 200})])
    assert two.spec["timeout"] == 60.0 and two.needs_emulator and not one.needs_emulator
    assert two.within == 0  # nothing asynchronous to check


def test_checks_of_what_the_emulator_does_later_wait_two_seconds_unless_told() -> None:
    text = '[[step]]\nname = "a"\nexpect = { sink = "s" }\n[[step]]\nname = "b"\nexpect = { sink = "s" }\nwithin = 0\n'
    a, b = parse_scenario(text, "w.toml").steps
    assert (a.within, b.within) == (2.0, 0.0)


def test_a_scenario_without_a_name_takes_its_file_name(tmp_path: Path) -> None:
    (tmp_path / "device-flow.toml").write_text(GOOD_STEP)
    assert load_scenarios([tmp_path / "device-flow.toml"])[0].name == "device-flow"
