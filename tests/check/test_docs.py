"""The scenarios shown in docs/check.md and docs/testing.md run as the pages say."""

from __future__ import annotations

import re
from pathlib import Path

from iotcli.check import parse_scenario
from iotcli.check.report import FAILED, PASSED
from iotcli.check.runner import run_scenarios
from iotcli.testing import Emulator

DOCS = Path(__file__).resolve().parents[2] / "docs"


def toml_blocks(page: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", (DOCS / page).read_text(), flags=re.S)


def test_the_tutorial_scenarios_run_as_shown(emu: Emulator) -> None:
    device, wrong_token, captures, strict, wait, same = toml_blocks("check.md")
    tutorial = parse_scenario(device + wrong_token + captures, "device.toml")
    report = run_scenarios(emu.client, [tutorial])
    assert [s.status for s in report.steps] == [PASSED, FAILED, PASSED, PASSED], "\n".join(
        report.text_lines()
    )
    failed = report.steps[1].assertions[1]
    assert (failed.expected, failed.actual) == ("6 records", "5 records")
    for text in (strict, same):
        emu.reset()
        report = run_scenarios(emu.client, [parse_scenario(text, "doc.toml")])
        assert report.ok, "\n".join(report.text_lines(verbose=True))
    assert "[[step]]" in wait
    parse_scenario(wait, "wait.toml")


def test_the_testing_page_shows_the_same_scenario() -> None:
    (scenario,) = [b for b in toml_blocks("testing.md") if "[[step]]" in b]
    assert scenario == toml_blocks("check.md")[5]
