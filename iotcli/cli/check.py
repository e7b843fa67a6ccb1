"""``iotcli check FILE... [--emulator] [--junit F] [--filter NAME] [--fail-fast]``: run scenario files.

The library (``iotcli.check``) reads, checks and runs the scenarios and builds the reports; this module
parses the options and prints.
"""

from pathlib import Path
from typing import Annotated

import typer

from iotcli.cli.state import get_state
from iotcli.errors import ConditionNotMet, ExitCode, UsageError


def register(app: typer.Typer) -> None:
    app.command("check")(check)


def check(
    files: Annotated[list[Path], typer.Argument(help="Scenario files (TOML, see docs/check.md).")],
    emulator: Annotated[
        bool,
        typer.Option(
            "--emulator", help="Run against a throw-away in-memory emulator on a free port (reset per file)."
        ),
    ] = False,
    junit: Annotated[
        Path | None,
        typer.Option("--junit", help="Also write a JUnit XML report here (one testcase per step)."),
    ] = None,
    filter: Annotated[
        str | None,
        typer.Option(
            "--filter",
            "-k",
            help="Only scenarios or steps whose name contains NAME (or matches a glob); a step runs with the steps before it.",
        ),
    ] = None,
    fail_fast: Annotated[
        bool, typer.Option("--fail-fast", "-x", help="Stop at the first step that fails.")
    ] = False,
) -> None:
    """Run scenario files: set up, send uplinks and downlinks, move the clock, wait, and check what should hold.

    Exit 0 when every assertion held, 7 when one did not, 2 for a bad scenario file (named with its step and
    key, before anything runs). Without --emulator the scenarios run against the current profile's server;
    on a real tenant, steps that need the emulator (clock, sinks, journals) are skipped, saying why.

    Examples:
      iotcli check --emulator examples/scenarios/*.toml
      iotcli check --emulator tests/scenarios/*.toml --junit report.xml
      iotcli check device.toml --filter "wrong token" --fail-fast
      iotcli --json check --emulator device.toml | jq .data.counts
    """
    from iotcli.check import load_scenarios, run, run_with_emulator
    from iotcli.check.report import ScenarioResult, StepResult, step_lines

    state = get_state()
    out = state.out
    if not files:
        raise UsageError(
            "name at least one scenario file", hint="iotcli check --emulator examples/scenarios/*.toml"
        )
    scenarios = load_scenarios(files)  # every file is checked before anything runs
    current: list[ScenarioResult] = []
    printed: set[int] = set()

    def show(result: ScenarioResult, step: StepResult) -> None:
        if not current or current[-1] is not result:
            if current:
                out.text("")
            current.append(result)
            out.text(f"{result.name} ({result.file})")
        printed.add(id(step))
        for line in step_lines(step, verbose=bool(out.verbose)):
            out.text(line)

    if emulator:
        report = run_with_emulator(scenarios, filter=filter, fail_fast=fail_fast, on_step=show)
    else:
        report = run(state.client(), scenarios, filter=filter, fail_fast=fail_fast, on_step=show)
    for sc in report.scenarios:  # steps that never ran (setup failed, --fail-fast) are listed at the end
        for step in sc.steps:
            if id(step) not in printed:
                show(sc, step)
    if junit is not None:
        try:
            junit.write_text(report.to_junit(), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {junit}: {exc.strerror or exc}") from None
    if not report.scenarios:
        raise UsageError(f"--filter '{filter}' selects no scenario or step")
    if out.json_mode:
        out.json({"data": report.to_dict()})  # one document: "ok" says it all (no error object after it)
        raise typer.Exit(0 if report.ok else int(ExitCode.CONDITION))
    out.text("")
    if report.ok:
        out.success("passed: " + report.summary())
    else:
        raise ConditionNotMet(
            "failed: " + report.summary(), hint="the report above shows expected and actual"
        )
