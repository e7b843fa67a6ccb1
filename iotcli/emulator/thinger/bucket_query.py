"""Bucket reads: the query (bounds, order, page, aggregation) and the aggregation itself.

The query follows what real clients send (thinger-io/node-red-contrib-thinger ``nodes/bucket-read.js``,
scripts built on ``?agg=1h&agg_type=mean&items=1000&min_ts&max_ts&sort=asc``): ``agg`` is an interval
(``5m``, ``1h``, ``1d``, ``1w``, ``1mo``, ``1y``), ``agg_type`` what each interval reports for every
numeric field, ``tz`` the IANA time zone the intervals are laid out in. An aggregated v1 record is
``{"<agg_type>": {field: value}, "ts": <interval start>}`` [source: clients read ``d[i]["mean"]`` and
``d[-1]["ts"]``]. Whatever the emulator recognizes but cannot do answers 400 naming it, never raw rows.
"""

from __future__ import annotations

import functools
import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from starlette.requests import Request

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import MAX_EPOCH_MS, query_int

DEFAULT_ITEMS, MAX_ITEMS = 100, 1000

#: What an aggregated interval can report for each numeric field (the set real clients offer).
AGG_TYPES = ("count", "mean", "median", "mode", "spread", "stddev", "max", "min", "sum")
#: Fixed-length interval units, in ms; ``mo`` and ``y`` are calendar months and years.
FIXED_UNITS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
AGG_RE = re.compile(r"^([1-9][0-9]{0,5})(s|m|h|d|w|mo|y)$")
#: 1970-01-05, the first Monday after the epoch: weeks start on Monday [chosen].
MONDAY_MS = 4 * 86_400_000
_EPOCH = datetime(1970, 1, 1)


@functools.cache
def time_zones() -> list[str]:
    """The ``tz`` names a read takes, as the OpenAPI document lists them (those of the system's tz
    database). Listed on first use, when the document is built, not at import: walking the tz
    database costs tens of milliseconds that every emulator start would pay."""
    return ["UTC", *sorted(n for n in available_timezones() if n.upper() not in ("UTC", "Z", "ETC/UTC"))]


#: Query parameters of a read; ``authorization`` is the token (section 1 of the contract).
KNOWN = {"items", "min_ts", "max_ts", "sort", "agg", "agg_type", "tz", "authorization"}


def bound(request: Request, name: str) -> int | None:
    """``min_ts`` / ``max_ts``: epoch ms; ``0`` or empty means no bound (clients send both) [source]."""
    value = query_int(request, name, None, minimum=0, maximum=MAX_EPOCH_MS)
    return value or None


@dataclass(frozen=True)
class Interval:
    """An ``agg`` interval: ``count`` times ``unit``, laid out in the wall-clock time of ``tz``."""

    count: int
    unit: str
    tz: tzinfo

    def start(self, ts: int) -> int:
        """Epoch ms of the start of the interval holding ``ts``."""
        try:
            return self._start(ts, self.tz)
        except (ValueError, OverflowError):
            return self._start(ts, UTC)  # local time past year 9999 (or before 1): laid out in UTC

    def _start(self, ts: int, tz: tzinfo) -> int:
        if self.unit in FIXED_UNITS:
            length = FIXED_UNITS[self.unit] * self.count
            origin = MONDAY_MS if self.unit == "w" else 0
            if tz is UTC:
                return (ts - origin) // length * length + origin
            local = datetime.fromtimestamp(ts / 1000, tz)
            offset = local.utcoffset() or timedelta(0)
            wall = ts + int(offset.total_seconds() * 1000)
            naive = _EPOCH + timedelta(milliseconds=(wall - origin) // length * length + origin)
            return int(naive.replace(tzinfo=tz).timestamp() * 1000)
        local = datetime.fromtimestamp(ts / 1000, tz)
        months = (local.year - 1970) * 12 + local.month - 1
        step = self.count * (12 if self.unit == "y" else 1)
        first = months // step * step
        start = datetime(1970 + first // 12, first % 12 + 1, 1, tzinfo=tz)
        return int(start.timestamp() * 1000)


@dataclass(frozen=True)
class ReadQuery:
    items: int
    min_ts: int | None
    max_ts: int | None
    sort: str  # asc | desc
    interval: Interval | None
    agg_type: str | None


def parse_read_query(request: Request) -> ReadQuery:
    """The query of a bucket read; empty values mean "not given"; 400 naming what is wrong or not honoured."""
    params = request.query_params
    for key in params:
        if key.startswith("tag_"):
            raise ApiProblem(
                400,
                f"query parameter '{key}': bucket tags are not emulated (records carry no tags), "
                "so the emulator cannot filter by them",
            )
        if key == "transform" and params.get(key):
            raise ApiProblem(400, "query parameter 'transform' is not supported by the emulator")
    items = query_int(request, "items", DEFAULT_ITEMS, minimum=1, maximum=MAX_ITEMS) or DEFAULT_ITEMS
    sort = (params.get("sort") or "desc").lower()
    if sort not in ("asc", "desc"):
        raise ApiProblem(400, f"query parameter 'sort' must be 'asc' or 'desc', got '{sort[:16]}'")
    tz = parse_tz(params.get("tz") or "")
    agg = params.get("agg") or ""
    agg_type = (params.get("agg_type") or "").lower()
    interval = None
    if agg:
        match = AGG_RE.fullmatch(agg)
        if match is None:
            raise ApiProblem(
                400,
                f"query parameter 'agg' must be an interval such as 5m, 1h, 1d, 1w, 1mo or 1y, got '{agg[:16]}'",
            )
        interval = Interval(int(match.group(1)), match.group(2), tz)
        agg_type = agg_type or "mean"  # [chosen] the default real clients preselect
        if agg_type not in AGG_TYPES:
            raise ApiProblem(
                400,
                f"query parameter 'agg_type' '{agg_type[:16]}' is not supported: use one of {', '.join(AGG_TYPES)}",
            )
    elif agg_type:
        raise ApiProblem(400, "query parameter 'agg_type' needs 'agg' (the interval to aggregate over)")
    return ReadQuery(
        items, bound(request, "min_ts"), bound(request, "max_ts"), sort, interval, agg_type or None
    )


def parse_tz(name: str) -> tzinfo:
    if not name or name.upper() in ("UTC", "Z", "ETC/UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ApiProblem(
            400, f"query parameter 'tz' must be an IANA time zone such as Europe/Madrid, got '{name[:48]}'"
        ) from None


def _numbers(value: Any) -> Iterable[tuple[str, int | float]]:
    if isinstance(value, dict):
        for key, v in value.items():
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                yield key, v


def summarize(values: list[int | float], agg_type: str) -> int | float | None:
    """One field of one interval; ``values`` in time order. None: nothing to report (left out)."""
    if agg_type == "count":
        return len(values)
    if agg_type == "sum":
        return sum(values) if all(isinstance(v, int) for v in values) else math.fsum(values)
    if agg_type == "mean":
        return math.fsum(values) / len(values)
    if agg_type == "min":
        return min(values)
    if agg_type == "max":
        return max(values)
    if agg_type == "spread":
        return max(values) - min(values)
    if agg_type == "median":
        return statistics.median(values)
    if agg_type == "mode":
        counts = Counter(values)
        most = max(counts.values())
        return next(v for v in values if counts[v] == most)  # a tie: the earliest value
    if agg_type == "stddev":
        return statistics.stdev(values) if len(values) > 1 else None  # sample deviation
    raise ValueError(agg_type)


def aggregate(
    rows: Iterable[tuple[int, Any]],
    interval: Interval,
    agg_type: str,
    items: int,
    descending: bool,
) -> list[tuple[int, dict[str, int | float]]]:
    """(interval start, {field: value}) of the first ``items`` intervals holding records.

    ``rows`` are (ts, value) in the read's order; intervals without records are left out [chosen].
    """
    out: list[tuple[int, dict[str, int | float]]] = []
    current: int | None = None
    fields: dict[str, list[int | float]] = {}

    def close() -> None:
        assert current is not None
        result: dict[str, int | float] = {}
        for key, values in fields.items():
            if descending:
                values.reverse()
            try:
                value = summarize(values, agg_type)
            except (OverflowError, ValueError):
                continue  # numbers beyond a double (10**400): nothing JSON can show
            if value is not None and not (isinstance(value, float) and not math.isfinite(value)):
                result[key] = value
        out.append((current, result))

    for ts, value in rows:
        start = interval.start(ts)
        if start != current:
            if current is not None:
                close()
                if len(out) >= items:
                    return out
            current, fields = start, {}
        for key, number in _numbers(value):
            fields.setdefault(key, []).append(number)
    if current is not None and len(out) < items:
        close()
    return out


def shape(
    rows: list[tuple[int, dict[str, int | float]]], agg_type: str, inline: bool
) -> list[dict[str, Any]]:
    """v1: ``{"<agg_type>": {...}, "ts"}`` [source]; v2 inlines the fields like its raw records [chosen]."""
    if inline:
        return [{"ts": ts, **fields} for ts, fields in rows]
    return [{agg_type: fields, "ts": ts} for ts, fields in rows]
