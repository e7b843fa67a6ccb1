"""``iotcli check``: scenario files that drive an integration and assert what should hold.

The library is used without the CLI::

    from iotcli.check import load_scenarios, run_with_emulator
    report = run_with_emulator(load_scenarios(["tests/device.toml"]))
    assert report.ok, "\\n".join(report.text_lines())
    Path("junit.xml").write_text(report.to_junit())

Every file is read and checked first (``ScenarioError``, exit 2, naming file, step and key); then each
scenario runs: its setup (``apply``), then its steps in order. See docs/check.md and
docs/reference/check.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iotcli.check.loader import load_scenario, parse_scenario
from iotcli.check.report import RunReport, ScenarioResult, StepResult
from iotcli.check.runner import exit_status, is_emulator, run_scenarios
from iotcli.check.schema import Scenario, ScenarioError

if TYPE_CHECKING:
    from iotcli.client.api import ApiClient


def load_scenarios(paths: Iterable[str | Path], environ: Mapping[str, str] | None = None) -> list[Scenario]:
    """Read and check every file before anything runs (the first bad one raises ScenarioError)."""
    return [load_scenario(p, environ) for p in paths]


def run_with_emulator(
    scenarios: list[Scenario],
    *,
    filter: str | None = None,
    fail_fast: bool = False,
    on_step: Callable[[ScenarioResult, StepResult], None] | None = None,
    **emulator_options: Any,
) -> RunReport:
    """Run against a throw-away in-memory emulator on a free loopback port (reset before each scenario)."""
    from iotcli.testing import Emulator

    with Emulator(**emulator_options) as emu:
        first = True

        def fresh(_scenario: Scenario) -> None:
            nonlocal first
            if not first:
                _settle(emu.client)
                emu.reset()
            first = False

        return run_scenarios(
            emu.client, scenarios, filter=filter, fail_fast=fail_fast, before_each=fresh, on_step=on_step
        )


def _settle(api: ApiClient, limit: float = 0.5) -> None:
    """Before a reset: let deliveries being sent now finish (at most ``limit`` s), so that no attempt in
    flight is recorded against rows the reset removed. Retries due later are not waited for."""
    import time

    end = time.monotonic() + limit
    while time.monotonic() < end:
        now = int(api.clock()["now_ms"])
        due = [
            d for d in api.list_deliveries(status="pending") if int(d.get("next_attempt") or 0) <= now + 50
        ]
        if not due:
            return
        time.sleep(0.02)


def run(
    api: ApiClient,
    scenarios: list[Scenario],
    *,
    filter: str | None = None,
    fail_fast: bool = False,
    on_step: Callable[[ScenarioResult, StepResult], None] | None = None,
) -> RunReport:
    """Run against the server ``api`` talks to (an emulator, or a real tenant: emulator-only steps skip)."""
    return run_scenarios(api, scenarios, filter=filter, fail_fast=fail_fast, on_step=on_step)


__all__ = [
    "RunReport",
    "Scenario",
    "ScenarioError",
    "ScenarioResult",
    "StepResult",
    "exit_status",
    "is_emulator",
    "load_scenario",
    "load_scenarios",
    "parse_scenario",
    "run",
    "run_with_emulator",
]
