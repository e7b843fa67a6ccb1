"""The assertions after a step (``CHECKS``, by kind): the step's answer, buckets, properties, devices,
sink requests, deliveries, downlinks and events; each gives (held, expected, actual)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from iotcli.check import matchers as m
from iotcli.check.context import NEEDS_EMULATOR, PAGE, POLL, Context, StepFailed, _pick
from iotcli.check.report import (
    FAILED,
    PASSED,
    SKIPPED,
    AssertionResult,
)
from iotcli.check.schema import EMULATOR_ONLY_EXPECTS, Step
from iotcli.errors import ApiError

if TYPE_CHECKING:
    pass


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
