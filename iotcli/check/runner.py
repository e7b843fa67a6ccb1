"""Running scenarios: setup (``apply``), then each step's action, captures and assertions.

Works through the API client, so the same scenario runs against a throw-away emulator, a running one,
or a real tenant (where steps and assertions that read the emulator's own routes are skipped, saying so).
"""

from __future__ import annotations

import fnmatch
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from iotcli.check import matchers as m
from iotcli.check.report import (
    ERROR,
    FAILED,
    PASSED,
    SKIPPED,
    AssertionResult,
    RunReport,
    ScenarioResult,
    StepResult,
)
from iotcli.check.schema import EMULATOR_ONLY_EXPECTS, PLACEHOLDER, SENDING_NAMES, Scenario, Step
from iotcli.errors import ApiError, ConditionNotMet, IotcliError
from iotcli.models.lorawan import LORAWAN_UPLINKS_PATH, downlink_body

if TYPE_CHECKING:
    from iotcli.client.api import ApiClient

CAPTURE = PLACEHOLDER
NEEDS_EMULATOR = "needs the emulator's own routes (/_emulator); the server is not an iotcli emulator"
POLL = 0.05  # real seconds between re-checks of assertions with `within`
PAGE = 10_000


class StepFailed(Exception):
    """An action could not do its part (the step is an error, not a failed assertion)."""


@dataclass
class Context:
    api: ApiClient
    emulator: bool
    captures: dict[str, Any] = field(default_factory=dict)
    events_after: int = 0
    last: dict[str, Any] = field(default_factory=dict)  # the last action's answer: status, json, headers
    connections: dict[str, str] = field(default_factory=dict)  # name -> id

    # -- placeholders -------------------------------------------------------------------------
    def fill(self, value: Any, *, i: int | None = None) -> Any:
        """Captures and vars (``{{token}}``) everywhere in ``value``; with ``i``, the sending placeholders
        too (``{{i}}``, ``{{now}}``, ``{{random:A:B}}``). A string that is one placeholder only becomes the
        value itself (a number stays a number)."""
        if isinstance(value, dict):
            return {self.fill(k, i=i): self.fill(v, i=i) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fill(v, i=i) for v in value]
        if not isinstance(value, str) or "{{" not in value:
            return value
        whole = CAPTURE.fullmatch(value.strip())
        if whole and whole.group(1) not in SENDING_NAMES:
            return self.capture(whole.group(1))
        text = CAPTURE.sub(self._sub, value)
        if i is None:
            return text
        from iotcli.sending.template import RenderContext, Template, has_placeholder

        if not has_placeholder(text):
            return text
        only = has_placeholder(text) and re.fullmatch(r"\{\{[^}]*\}\}", text.strip()) is not None
        rendered = Template(text).render(RenderContext(i=i))
        if only:
            try:
                return json.loads(rendered)
            except ValueError:
                return rendered
        return rendered

    def _sub(self, match: re.Match[str]) -> str:
        name = match.group(1)
        if name in SENDING_NAMES:
            return match.group(0)
        value = self.capture(name)
        return value if isinstance(value, str) else json.dumps(value)

    def capture(self, name: str) -> Any:
        if name not in self.captures and name.startswith("tokens."):
            raise StepFailed(
                f"{{{{{name}}}}}: the setup did not create this token (it existed already, so its secret is "
                "not known): run against a fresh server (--emulator), or create one in a `token` step"
            )
        if name not in self.captures:
            known = ", ".join(sorted(self.captures)) or "none yet"
            raise StepFailed(f"{{{{{name}}}}} is not a var or an earlier capture (known: {known})")
        return self.captures[name]

    def connection_id(self, name: str) -> str:
        if name not in self.connections:
            for conn in self.api.list_connections():
                self.connections[str(conn.get("name"))] = str(conn.get("id"))
                self.connections[str(conn.get("id"))] = str(conn.get("id"))
        if name not in self.connections:
            raise StepFailed(f"no connection named '{name}' on the server")
        return self.connections[name]


def is_emulator(api: ApiClient) -> bool:
    """Does the server answer the emulator's own routes? (network errors are raised: exit 6)"""
    try:
        api.health()
    except ApiError:
        return False
    return True


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


def _emu_now(ctx: Context) -> float | None:
    if not ctx.emulator:
        return None
    try:
        return float(ctx.api.clock()["now"])
    except IotcliError:
        return None


# -- actions -----------------------------------------------------------------------------------------


def _answer(response: httpx.Response) -> dict[str, Any]:
    try:
        body: Any = response.json() if response.content else None
    except ValueError:
        body = response.text
    return {"status": response.status_code, "json": body, "headers": dict(response.headers)}


def _request(
    ctx: Context, method: str, url: str, *, body: Any, token: str | None = None, auth: bool = True
) -> dict[str, Any]:
    """One request whose answer, whatever its status, is the step's answer (a 4xx is not an error here)."""
    from iotcli.client.base import network_error

    headers = ctx.api._headers({"Authorization": f"Bearer {token}"} if token else None) if auth else {}
    try:
        response = ctx.api.http.request(method, url, json=body, headers=headers)
    except httpx.TransportError as exc:
        raise network_error(ctx.api.base_url, exc) from None
    ctx.last = _answer(response)
    return ctx.last


def _repeat(spec: dict[str, Any]) -> range:
    return range(1, int(spec.get("repeat", 1)) + 1)


def _statuses(codes: list[int]) -> str:
    counts: dict[int, int] = {}
    for c in codes:
        counts[c] = counts.get(c, 0) + 1
    return ", ".join(f"HTTP {c}" + (f" ×{n}" if n > 1 else "") for c, n in counts.items())


def do_uplink(ctx: Context, spec: dict[str, Any]) -> str:
    device = ctx.fill(spec["device"])
    token = ctx.fill(spec["token"]) if "token" in spec else None
    url = ctx.api.callback_url(device)
    codes = []
    for i in _repeat(spec):
        answer = _request(ctx, "POST", url, body=ctx.fill(spec.get("data", {}), i=i), token=token)
        codes.append(answer["status"])
    n = len(codes)
    return f"{n} uplink{'s' * (n != 1)} to device '{device}': {_statuses(codes)}"


def do_lorawan(ctx: Context, spec: dict[str, Any]) -> str:
    deveui = ctx.fill(spec["deveui"])
    codes = []
    for i in _repeat(spec):
        body: dict[str, Any] = {
            "DevEUI": deveui,
            "FPort": spec["fport"],
            **ctx.fill(spec.get("fields", {}), i=i),
        }
        for key in ("payload_hex", "payload"):
            if key in spec:
                body[key] = ctx.fill(spec[key], i=i)
        answer = _request(ctx, "POST", LORAWAN_UPLINKS_PATH, body=body)
        codes.append(answer["status"])
    n = len(codes)
    return f"{n} LoRaWAN uplink{'s' * (n != 1)} from {deveui}: {_statuses(codes)}"


def do_downlink(ctx: Context, spec: dict[str, Any]) -> str:
    if "url" in spec:
        url = str(ctx.fill(spec["url"]))
    else:
        url = ctx.api.downlink_url(ctx.connection_id(ctx.fill(spec["connection"])))
    fields = {k: ctx.fill(v) for k, v in spec.items() if k not in ("url", "connection")}
    target = url if url.startswith(("http://", "https://")) else ctx.api.base_url + "/" + url.lstrip("/")
    same = target.startswith(ctx.api.base_url.rstrip("/") + "/")
    answer = _request(ctx, "POST", target, body=downlink_body(fields), auth=same)
    return f"downlink to {fields.get('DevEUI', '?')}: HTTP {answer['status']}"


def do_token(ctx: Context, spec: dict[str, Any]) -> str:
    device, name = ctx.fill(spec["device"]), ctx.fill(spec["name"])
    created = ctx.api.create_device_token(device, name)
    ctx.last = {"status": 200, "json": created, "headers": {}}
    return f"token '{name}' of device '{device}' created"


def do_advance(ctx: Context, seconds: float) -> str:
    clock = ctx.api.advance_clock(seconds)
    ctx.last = {"status": 200, "json": clock, "headers": {}}
    return f"emulator clock advanced {seconds:g}s to {clock.get('iso', clock.get('now'))}"


def do_wait(ctx: Context, spec: dict[str, Any]) -> str:
    from iotcli.waiting import (
        BucketRecords,
        Condition,
        Deliveries,
        DeviceConnection,
        Downlinks,
        EventSeen,
        SinkRequests,
        wait_for,
    )

    s = ctx.fill(spec)
    count = int(s.get("count", 1))
    condition: Condition
    if "sink" in s:
        header = field_ = None
        if "header" in s:
            k, sep, v = s["header"].partition("=")
            header = (k.strip(), v if sep else None)
        if "field" in s:
            p, _, v = s["field"].partition("=")
            field_ = (p.strip(), v)
        condition = SinkRequests(s["sink"], count, header, field_)
    elif "bucket" in s:
        condition = BucketRecords(s["bucket"], count)
    elif "deliveries" in s:
        conn = ctx.connection_id(s["connection"]) if "connection" in s else None
        condition = Deliveries(s["deliveries"], count, connection=conn, device=s.get("device"))
    elif "device" in s:
        condition = DeviceConnection(s["device"], bool(s["connected"]))
    elif "downlinks" in s:
        condition = Downlinks(s["downlinks"], count, s.get("deveui"))
    else:
        condition = EventSeen(s.get("event") or s["events"], count, after=ctx.events_after)
    seen = wait_for(ctx.api, condition, timeout=float(s["timeout"]), clock=s.get("clock", "wall"))
    ctx.last = {"status": 200, "json": seen.data, "headers": {}}
    return f"waited for {condition.describe()}: {seen.seen}"


ACTIONS: dict[str, Callable[[Context, Any], str]] = {
    "uplink": do_uplink,
    "lorawan": do_lorawan,
    "downlink": do_downlink,
    "token": do_token,
    "advance": do_advance,
    "wait": do_wait,
}


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


def _pick(items: list[Any], which: Any, what: str) -> Any:
    if which == "first":
        return items[0]
    if which == "last":
        return items[-1]
    try:
        return items[int(which)]
    except IndexError:
        raise StepFailed(f"{what}: there is no item {which} (there are {len(items)})") from None


# -- assertions ---------------------------------------------------------------------------------------


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


def check_all(ctx: Context, step: Step, end: float) -> list[AssertionResult]:
    """Every assertion of the step; until ``end`` (``within``), re-checked until all hold."""
    while True:
        results = [check_one(ctx, kind, spec) for kind, spec in step.expect]
        if all(r.status != FAILED for r in results) or time.monotonic() >= end:
            return results
        time.sleep(POLL)


def check_one(ctx: Context, kind: str, raw: dict[str, Any]) -> AssertionResult:
    spec = ctx.fill(raw)
    label = spec.get("label") or _label(kind, spec)
    if kind in EMULATOR_ONLY_EXPECTS and not ctx.emulator:
        return AssertionResult(label, SKIPPED, reason=NEEDS_EMULATOR)
    try:
        ok, expected, actual = CHECKS[kind](ctx, spec)
    except ApiError as exc:
        if exc.status in (404,):
            ok, expected, actual = False, _label(kind, spec), f"not found: {exc.message}"
        else:
            raise
    return AssertionResult(label, PASSED if ok else FAILED, expected=expected, actual=actual)


def _label(kind: str, spec: dict[str, Any]) -> str:
    subject = spec[kind] if kind != "response" else None
    if kind == "response":
        return "response"
    if kind == "property":
        return f"property '{spec['property']}' of device '{spec['device']}'"
    if kind == "device":
        return f"device '{subject}'"
    if kind in ("deliveries", "downlinks"):
        return f"{kind} {subject}" + "".join(
            f" of {k} '{spec[k]}'" for k in ("connection", "device", "kind", "deveui") if k in spec
        )
    if kind == "events":
        return f"events '{subject}'"
    return f"{kind} '{subject}'"


def _fields(doc: Any, fields: dict[str, Any]) -> list[str]:
    """The fields that do not match, as ``$.a: expected X, got Y`` (empty: all match)."""
    bad = []
    for path, expected in fields.items():
        actual = m.json_path(path).find(doc)
        if not m.matches(actual, expected):
            bad.append(f"{path} {m.describe(expected)} (got {m.show(actual)})")
    return bad


def _value_checks(doc: Any, spec: dict[str, Any]) -> list[str]:
    bad = []
    if "value" in spec and not m.matches(doc, spec["value"]):
        bad.append(f"value {m.describe(spec['value'])} (got {m.show(doc)})")
    if "fields" in spec:
        bad += _fields(doc, spec["fields"])
    return bad


def _expected_text(spec: dict[str, Any], extra: Iterable[str] = ()) -> str:
    parts = list(extra)
    if "value" in spec:
        parts.append(f"value {m.describe(spec['value'])}")
    for path, expected in spec.get("fields", {}).items():
        parts.append(f"{path} {m.describe(expected)}")
    return ", ".join(parts) or "present"


def check_response(ctx: Context, spec: dict[str, Any]) -> tuple[bool, str, str]:
    if not ctx.last:
        raise StepFailed("response: this step got no answer to check (expect response after an action)")
    status = ctx.last.get("status")
    doc = ctx.last.get("json")
    bad = [] if m.matches(status, spec["response"]) else [f"status {m.describe(spec['response'])}"]
    bad += _value_checks(doc, spec)
    headers = {k.lower(): v for k, v in (ctx.last.get("headers") or {}).items()}
    for name, expected in spec.get("headers", {}).items():
        actual = headers.get(name.lower(), m.MISSING)
        if not m.matches(actual, expected):
            bad.append(f"header {name} {m.describe(expected)} (got {m.show(actual)})")
    expected = _expected_text(spec, [f"status {m.describe(spec['response'])}"])
    actual = f"HTTP {status} {m.show(doc)}"
    return not bad, expected, actual if not bad else actual + "; " + "; ".join(bad)


def _count_ok(n: int, spec: dict[str, Any], default: Any) -> tuple[bool, str]:
    wanted = spec.get("count", default)
    return m.matches(n, wanted), m.describe(wanted) if m.is_operator_table(wanted) else str(wanted)


def _s(wanted: str) -> str:
    """The plural ending for a count as described (``1``, ``at least 1``: none)."""
    return "" if wanted == "1" or wanted.endswith(" 1") else "s"


def check_bucket(ctx: Context, spec: dict[str, Any]) -> tuple[bool, str, str]:
    records: list[dict[str, Any]] = []
    for page in ctx.api.iter_bucket(spec["bucket"], page_size=1000):
        records += page
    records.sort(key=lambda r: r.get("ts", 0))
    n = len(records)
    parts, ok = [], True
    default = {"ge": 1}
    if "count" in spec or not ({"value", "fields"} & spec.keys()):
        ok, wanted = _count_ok(n, spec, default)
        parts.append(f"{wanted} record{_s(wanted)}")
    actual = f"{n} record{'s' * (n != 1)}"
    if {"value", "fields"} & spec.keys():
        which = spec.get("record", "last")
        if not records:
            return False, _expected_text(spec, parts), actual
        try:
            record = _pick(records, which, "record")
        except StepFailed as exc:
            return False, _expected_text(spec, parts), f"{actual}; {exc}"
        bad = _value_checks(record.get("val"), spec)
        ok = ok and not bad
        actual += f"; {which} record {m.show(record.get('val'))}"
        if bad:
            actual += ": " + "; ".join(bad)
        parts.append(f"{which} record")
    return ok, _expected_text(spec, parts), actual


def check_property(ctx: Context, spec: dict[str, Any]) -> tuple[bool, str, str]:
    prop = ctx.api.get_property(spec["device"], spec["property"])
    value = prop.get("value") if isinstance(prop, dict) else prop
    bad = _value_checks(value, spec)
    return not bad, _expected_text(spec), m.show(value) + ("; " + "; ".join(bad) if bad else "")


def check_device(ctx: Context, spec: dict[str, Any]) -> tuple[bool, str, str]:
    stats = ctx.api.device_stats(spec["device"])
    now = bool(stats.get("connected"))
    want = "connected" if spec["connected"] else "disconnected"
    return now == spec["connected"], want, "connected" if now else "disconnected"


def _all_sink_requests(ctx: Context, name: str, *, secrets: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        page = ctx.api.sink_requests(name, after=after, limit=PAGE, secrets=secrets)
        out += page
        if len(page) < PAGE:
            return out
        after = page[-1]["id"]


def _request_misses(request: dict[str, Any], spec: dict[str, Any]) -> list[str]:
    bad = []
    for key in ("method", "path"):
        if key in spec and not m.matches(request.get(key), spec[key]):
            bad.append(f"{key} {m.describe(spec[key])} (got {m.show(request.get(key))})")
    headers = request.get("headers") or {}
    for name, expected in spec.get("headers", {}).items():
        actual = headers.get(name.lower(), m.MISSING)
        if not m.matches(actual, expected):
            bad.append(f"header {name} {m.describe(expected)} (got {m.show(actual)})")
    query = request.get("query") or {}
    for name, expected in spec.get("query", {}).items():
        actual = query.get(name, m.MISSING)
        if not m.matches(actual, expected):
            bad.append(f"query {name} {m.describe(expected)} (got {m.show(actual)})")
    if "fields" in spec:
        bad += _fields(request.get("json"), spec["fields"])
    return bad


def check_sink(ctx: Context, spec: dict[str, Any]) -> tuple[bool, str, str]:
    requests = _all_sink_requests(ctx, spec["sink"], secrets="headers" in spec or "query" in spec)
    misses = [_request_misses(r, spec) for r in requests]
    n = sum(1 for miss in misses if not miss)
    ok, wanted = _count_ok(n, spec, {"ge": 1})
    filters = [f"{k} {m.describe(spec[k])}" for k in ("method", "path") if k in spec]
    filters += [f"header {k} {m.describe(v)}" for k, v in spec.get("headers", {}).items()]
    filters += [f"query {k} {m.describe(v)}" for k, v in spec.get("query", {}).items()]
    filters += [f"{k} {m.describe(v)}" for k, v in spec.get("fields", {}).items()]
    expected = f"{wanted} request{_s(wanted)}" + (f" with {', '.join(filters)}" if filters else "")
    actual = f"{len(requests)} request{'s' * (len(requests) != 1)}"
    if filters:
        actual += f", {n} matching"
        if not ok and requests and misses[-1]:
            actual += f"; the last one has {'; '.join(misses[-1])}"
    return ok, expected, actual


def check_deliveries(ctx: Context, spec: dict[str, Any]) -> tuple[bool, str, str]:
    status = spec["deliveries"]
    conn = ctx.connection_id(spec["connection"]) if "connection" in spec else None
    rows = ctx.api.list_deliveries(
        status=None if status == "any" else status,
        connection=conn,
        device=spec.get("device"),
        kind=spec.get("kind"),
        limit=PAGE,
    )
    detail = {"attempts", "gaps", "reason", "took"} & spec.keys()
    notes: list[str] = []
    n = 0
    for row in rows:
        bad = []
        if "attempts" in spec and not m.matches(row.get("attempts"), spec["attempts"]):
            bad.append(f"attempts {m.describe(spec['attempts'])} (got {row.get('attempts')})")
        if "reason" in spec and not m.matches(row.get("reason"), spec["reason"]):
            bad.append(f"reason {m.describe(spec['reason'])} (got {m.show(row.get('reason'))})")
        if "took" in spec:
            took = round((int(row.get("updated") or 0) - int(row.get("created") or 0)) / 1000, 3)
            if not m.matches(took, spec["took"]):
                bad.append(f"took {m.describe(spec['took'])} s (got {took:g} s)")
        if "gaps" in spec:
            full = ctx.api.get_delivery(str(row["id"]))
            stamps = [a["ts"] for a in full.get("attempt_log") or []]
            gaps = [round((b - a) / 1000, 3) for a, b in zip(stamps, stamps[1:], strict=False)]
            tol = float(spec.get("tolerance", 0.5))
            want = spec["gaps"]
            if len(gaps) != len(want) or any(abs(g - w) > tol for g, w in zip(gaps, want, strict=False)):
                bad.append(f"gaps {want} ±{tol:g}s (got {gaps})")
        if bad:
            notes.append(f"#{row['id']}: {'; '.join(bad)}")
        else:
            n += 1
    ok, wanted = _count_ok(n, spec, {"ge": 1})
    extra = [f"attempts {m.describe(spec['attempts'])}"] if "attempts" in spec else []
    extra += [f"gaps {spec['gaps']} s (emulator time)"] if "gaps" in spec else []
    extra += [f"reason {m.describe(spec['reason'])}"] if "reason" in spec else []
    extra += [f"took {m.describe(spec['took'])} s (emulator time)"] if "took" in spec else []
    expected = f"{wanted} {status if status != 'any' else ''} deliver{'y' if _s(wanted) == '' else 'ies'}"
    expected = " ".join(expected.split()) + (f" with {', '.join(extra)}" if extra else "")
    actual = f"{len(rows)} {status if status != 'any' else ''}".replace("  ", " ") + " found"
    if detail:
        actual += f", {n} matching"
        if notes and not ok:
            actual += f"; {notes[-1]}"
    if not ok and status != "any" and not rows:
        every = ctx.api.list_deliveries(
            connection=conn, device=spec.get("device"), kind=spec.get("kind"), limit=PAGE
        )
        counts: dict[str, int] = {}
        for row in every:
            counts[str(row.get("status"))] = counts.get(str(row.get("status")), 0) + 1
        actual += f" (all: {', '.join(f'{v} {k}' for k, v in sorted(counts.items())) or 'none'})"
    return ok, expected, actual


def check_downlinks(ctx: Context, spec: dict[str, Any]) -> tuple[bool, str, str]:
    status = spec["downlinks"]
    rows = ctx.api.list_lorawan_downlinks(spec.get("deveui")) or []
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row.get("status"))] = counts.get(str(row.get("status")), 0) + 1
    mine = [r for r in rows if status == "any" or r.get("status") == status]
    cause = spec.get("cause", {"exists": True}) if "cause" in spec else None
    matching = [r for r in mine if cause is None or m.matches(r.get("cause"), cause)]
    ok, wanted = _count_ok(len(matching), spec, {"ge": 1})
    expected = f"{wanted} downlink{_s(wanted)} {status}" + (
        f" with cause {m.describe(spec['cause'])}" if "cause" in spec else ""
    )
    actual = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no downlinks"
    if "cause" in spec and mine:
        actual += f"; causes: {', '.join(sorted({m.show(r.get('cause')) for r in mine}))}"
    return ok, expected, actual


def check_events(ctx: Context, spec: dict[str, Any]) -> tuple[bool, str, str]:
    events = ctx.api.list_events(kind=spec["events"], after=ctx.events_after, limit=PAGE)
    matching = [e for e in events if not _fields(e, spec.get("fields", {}))]
    ok, wanted = _count_ok(len(matching), spec, {"ge": 1})
    fields = [f"{k} {m.describe(v)}" for k, v in spec.get("fields", {}).items()]
    expected = f"{wanted} event{_s(wanted)} '{spec['events']}' since the scenario began" + (
        f" with {', '.join(fields)}" if fields else ""
    )
    actual = f"{len(events)} event{'s' * (len(events) != 1)}" + (
        f", {len(matching)} matching" if fields else ""
    )
    return ok, expected, actual


CHECKS: dict[str, Callable[[Context, dict[str, Any]], tuple[bool, str, str]]] = {
    "response": check_response,
    "bucket": check_bucket,
    "property": check_property,
    "device": check_device,
    "sink": check_sink,
    "deliveries": check_deliveries,
    "downlinks": check_downlinks,
    "events": check_events,
}


def exit_status(report: RunReport) -> int:
    """0 when everything held, 7 (``ConditionNotMet``) otherwise."""
    from iotcli.errors import ExitCode

    return 0 if report.ok else int(ExitCode.CONDITION)
