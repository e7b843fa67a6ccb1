"""``iotcli check``: exit codes, reports, options, and the shipped example scenarios."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from iotcli.testing import Emulator
from tests.check.test_junit import validate
from tests.harness import run_cli

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
FAILING = """
name = "Failing"
[setup.buckets.b]
config = { source = "write" }
[[step]]
name = "write nothing, expect two"
expect = { bucket = "b", count = 2 }
[[step]]
name = "tick"
advance = 1
"""


def test_the_example_scenarios_pass_with_a_throw_away_emulator(tmp_path: Path) -> None:
    files = sorted(str(p) for p in EXAMPLES.glob("*.toml"))
    assert len(files) >= 5
    junit = tmp_path / "report.xml"
    result = run_cli(["check", "--emulator", *files, "--junit", str(junit)])
    assert result.exit_code == 0, result.stdout + result.stderr
    for name in (
        "HTTP device with bucket, property and response",
        "Strict-mode retries against a failing sink",
        "Header templating",
        "Class-A downlink loop-back with Sent and Rejected",
        "Device timeout with the clock",
    ):
        assert name in result.stdout
    assert "passed: " in result.stderr and "0 failed" not in result.stderr
    root = ET.fromstring(junit.read_text())
    validate(root)
    assert len(root.findall("testsuite")) == len(files)
    assert root.get("failures") == "0" and root.get("errors") == "0"
    assert int(root.get("tests", "0")) == len(root.findall("testsuite/testcase"))


def test_a_failed_assertion_exits_7_with_expected_and_actual(tmp_path: Path) -> None:
    (tmp_path / "f.toml").write_text(FAILING)
    result = run_cli(["check", "--emulator", str(tmp_path / "f.toml")])
    assert result.exit_code == 7
    assert "FAIL write nothing, expect two" in result.stdout
    assert "expected: 2 records" in result.stdout and "actual:   0 records" in result.stdout
    assert "ok   tick" in result.stdout
    assert re.fullmatch(
        r"error: failed: 2 steps in 1 scenario: 1 passed, 1 failed \(\d+\.\d\ds\)",
        result.stderr.splitlines()[0],
    )


def test_json_fail_fast_and_filter(tmp_path: Path) -> None:
    (tmp_path / "f.toml").write_text(FAILING)
    result = run_cli(["check", "--emulator", str(tmp_path / "f.toml"), "--json", "--fail-fast"])
    assert result.exit_code == 7
    data = json.loads(result.stdout)["data"]
    assert data["ok"] is False and data["emulator"] is True
    assert data["counts"] == {"passed": 0, "failed": 1, "error": 0, "skipped": 1}
    first = data["scenarios"][0]["steps"][0]
    assert first["assertions"][0] == {
        "label": "bucket 'b'",
        "status": "failed",
        "expected": "2 records",
        "actual": "0 records",
    }
    only = run_cli(["check", "--emulator", str(tmp_path / "f.toml"), "--filter", "Failing", "--json"])
    assert len(json.loads(only.stdout)["data"]["scenarios"][0]["steps"]) == 2
    none = run_cli(["check", "--emulator", str(tmp_path / "f.toml"), "--filter", "zzz"])
    assert none.exit_code == 2 and "--filter 'zzz' selects no scenario or step" in none.stderr


def test_a_bad_file_exits_2_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text(FAILING)
    (tmp_path / "bad.toml").write_text('[[step]]\nname = "x"\nuplink = { device = "d", repaet = 2 }\n')
    with Emulator() as emu:
        target = ["--server", emu.url, "--token", emu.token]
        result = run_cli(["check", str(tmp_path / "good.toml"), str(tmp_path / "bad.toml"), *target])
        assert result.exit_code == 2
        assert result.stderr.startswith(
            f"error: {tmp_path / 'bad.toml'}: step 1 'x': uplink.repaet: unknown key"
        )
        assert result.stdout == ""
        assert emu.client.list_buckets() == []  # the good file's setup did not run either
        # Without --emulator: the current profile's server (here a running emulator), nothing reset.
        ok = tmp_path / "ok.toml"
        ok.write_text('[setup.buckets.b]\nconfig = { source = "write" }\n[[step]]\nname = "t"\nadvance = 1\n')
        assert run_cli(["check", str(ok), *target]).exit_code == 0
        assert [b["bucket"] for b in emu.client.list_buckets()] == ["b"]


def test_check_help_has_examples() -> None:
    result = run_cli(["check", "--help"])
    assert result.exit_code == 0
    assert "iotcli check --emulator examples/scenarios/*.toml" in result.stdout
    assert "--junit" in result.stdout and "--fail-fast" in result.stdout and "--filter" in result.stdout


def test_the_github_actions_workflow_runs_the_example_scenarios() -> None:
    import shlex

    import yaml  # type: ignore[import-untyped]

    workflow = Path(__file__).resolve().parents[2] / "examples" / "github-actions.yml"
    steps = yaml.safe_load(workflow.read_text())["jobs"]["scenarios"]["steps"]
    (command,) = [s["run"] for s in steps if "iotcli check" in str(s.get("run", ""))]
    argv = shlex.split(command)
    assert argv[:3] == ["iotcli", "check", "--emulator"]
    assert "examples/scenarios/*.toml" in argv and argv[argv.index("--junit") + 1] == "iotcli-check.xml"
    reporters = [s for s in steps if "junit" in str(s.get("uses", ""))]
    assert reporters and reporters[0]["with"]["report_paths"] == "iotcli-check.xml"
    # the command the job runs is the one test_the_example_scenarios_pass_with_a_throw_away_emulator runs
    assert sorted(EXAMPLES.glob("*.toml"))
