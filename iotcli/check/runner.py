"""Running scenarios: setup (``apply``), then each step's action, captures and assertions.

Works through the API client, so the same scenario runs against a throw-away emulator, a running one,
or a real tenant (where steps and assertions that read the emulator's own routes are skipped, saying so).
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from iotcli.check import matchers as m
from iotcli.check.report import (
    ERROR,
    FAILED,
    SKIPPED,
    AssertionResult,
    RunReport,
    ScenarioResult,
    StepResult,
)
from iotcli.check.schema import Scenario, Step
from iotcli.errors import ConditionNotMet, IotcliError

if TYPE_CHECKING:
    from iotcli.client.api import ApiClient
from iotcli.check.actions import ACTIONS, _emu_now
from iotcli.check.assertions import _all_sink_requests, check_all
from iotcli.check.context import NEEDS_EMULATOR, POLL, Context, StepFailed, _pick, is_emulator


def selected(scenario: Scenario, pattern: str | None) -> list[Step] | None:
    """The steps ``--filter`` selects: all of them when it names the scenario (its name or file), else the
    matching steps and the steps before them (they make the state a step checks); None: nothing matches."""
    if not pattern:
        return scenario.steps
    stem = scenario.path.rsplit("/", 1)[-1]

    def hit(text: str) -> bool:
        low, pat = text.lower(), pattern.lower()
        return pat in low or fnmatch.fnmatch(low, pat)

    if hit(scenario.name) or hit(stem):
        return scenario.steps
    last = max((s.index for s in scenario.steps if hit(s.name)), default=0)
    return scenario.steps[:last] if last else None


def run_scenarios(
    api: ApiClient,
    scenarios: Iterable[Scenario],
    *,
    filter: str | None = None,
    fail_fast: bool = False,
    before_each: Callable[[Scenario], None] | None = None,
    on_step: Callable[[ScenarioResult, StepResult], None] | None = None,
) -> RunReport:
    """Run each scenario in turn and report. ``before_each`` runs before a scenario's setup (the
    throw-away emulator resets there). ``on_step`` sees each step as it ends (live output)."""
    start = time.monotonic()
    emulator = is_emulator(api)
    report = RunReport(target=api.base_url, emulator=emulator)
    stop = False
    for scenario in scenarios:
        steps = selected(scenario, filter)
        if steps is None:
            continue
        result = ScenarioResult(file=scenario.path, name=scenario.name)
        report.scenarios.append(result)
        if stop:
            result.steps = [
                StepResult(s.name, SKIPPED, message="--fail-fast: an earlier step failed") for s in steps
            ]
            continue
        if before_each is not None:
            before_each(scenario)
        stop = _run_one(api, emulator, scenario, steps, result, fail_fast, on_step) and fail_fast
    report.time = time.monotonic() - start
    return report


def _run_one(
    api: ApiClient,
    emulator: bool,
    scenario: Scenario,
    steps: list[Step],
    result: ScenarioResult,
    fail_fast: bool,
    on_step: Callable[[ScenarioResult, StepResult], None] | None,
) -> bool:
    """Run one scenario; True when a step failed or errored."""
    t0 = time.monotonic()
    ctx = Context(api=api, emulator=emulator, captures=dict(scenario.vars))
    failed = False
    try:
        if emulator:
            latest = api.list_events(limit=1)
            ctx.events_after = int(latest[-1]["id"]) if latest else 0
        if scenario.setup is not None:
            _setup(ctx, scenario)
    except (IotcliError, StepFailed) as exc:
        result.steps.append(StepResult("setup", ERROR, message=f"setup failed: {_text(exc)}"))
        result.steps += [StepResult(s.name, SKIPPED, message="setup failed") for s in steps]
        result.time = time.monotonic() - t0
        return True
    for i, step in enumerate(steps):
        if failed and fail_fast:
            result.steps += [
                StepResult(s.name, SKIPPED, message="--fail-fast: an earlier step failed") for s in steps[i:]
            ]
            break
        outcome = run_step(ctx, step)
        result.steps.append(outcome)
        failed = failed or outcome.status in (FAILED, ERROR)
        if on_step is not None:
            on_step(result, outcome)
    result.time = time.monotonic() - t0
    return failed


def _text(exc: BaseException) -> str:
    if isinstance(exc, IotcliError):
        return exc.message
    return str(exc)


def _setup(ctx: Context, scenario: Scenario) -> None:
    from iotcli.provision import apply_env

    assert scenario.setup is not None
    for env in scenario.setup.envs:
        _plan, tokens = apply_env(ctx.api, env)
        for key, created in tokens.items():
            device, _, name = key.partition("/")
            if isinstance(created, dict) and "token" in created:
                ctx.captures[f"tokens.{device}.{name}"] = created["token"]


def run_step(ctx: Context, step: Step) -> StepResult:
    """Do the step's action, take its captures, then check its assertions."""
    out = StepResult(step.name)
    t0 = time.monotonic()
    clock0 = _emu_now(ctx)
    try:
        if step.needs_emulator and not ctx.emulator:
            out.status, out.message = SKIPPED, f"{step.action}: {NEEDS_EMULATOR}"
            return out
        ctx.last = {}
        failure: str | None = None
        if step.action is not None:
            try:
                out.did = ACTIONS[step.action](ctx, step.spec)
            except ConditionNotMet as exc:
                failure = exc.message
        end = time.monotonic() + step.within
        if failure is not None:
            out.assertions.append(AssertionResult("wait", FAILED, expected="the condition", actual=failure))
        out.assertions += check_all(ctx, step, end)
        _take_captures(ctx, step, end)
        if any(a.status == FAILED for a in out.assertions):
            out.status = FAILED
        elif step.action is None and out.assertions and all(a.status == SKIPPED for a in out.assertions):
            out.status, out.message = SKIPPED, f"every assertion {NEEDS_EMULATOR}"
    except (IotcliError, StepFailed) as exc:
        out.status, out.message = ERROR, _text(exc)
    finally:
        out.time = time.monotonic() - t0
        clock1 = _emu_now(ctx)
        if clock0 is not None and clock1 is not None:
            out.emulator_time = clock1 - clock0
    return out


def _capture(ctx: Context, name: str, source: Any) -> Any:
    if isinstance(source, str):
        doc: Any = ctx.last.get("json")
        path = source
        where = "the step's answer"
    elif "sink" in source:
        requests = _all_sink_requests(ctx, ctx.fill(source["sink"]), secrets=True)
        if not requests:
            raise StepFailed(f"capture {name}: sink '{source['sink']}' has no requests")
        doc = _pick(requests, source.get("request", "last"), f"capture {name}").get("json")
        path, where = source["path"], f"sink '{source['sink']}'"
    else:
        doc = ctx.api.get_connection(ctx.connection_id(ctx.fill(source["connection"])))
        path, where = source["path"], f"connection '{source['connection']}'"
    value = m.json_path(path).find(doc)
    if value is m.MISSING:
        raise StepFailed(f"capture {name}: nothing at {path} in {where}")
    return value


def _take_captures(ctx: Context, step: Step, end: float) -> None:
    """The step's captures (after its assertions); with ``within``, retried until they are there."""
    for name, source in step.capture.items():
        while True:
            try:
                ctx.captures[name] = _capture(ctx, name, source)
                break
            except StepFailed:
                if time.monotonic() >= end:
                    raise
                time.sleep(POLL)


def exit_status(report: RunReport) -> int:
    """0 when everything held, 7 (``ConditionNotMet``) otherwise."""
    from iotcli.errors import ExitCode

    return 0 if report.ok else int(ExitCode.CONDITION)
