"""Thinger surface: bucket reads with aggregation, bounds and empty values; lists; range delete;
device-scoped buckets."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tests.emulator.thinger_helpers import (
    V3,
    U,
    create_bucket,
    create_device,
    create_endpoint,
    error,
    post_data,
    records,
    set_callback,
)
from tests.harness import InProcessEmulator

H = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def write(emu: InProcessEmulator, bucket: str, ts: int, **fields: object) -> None:
    r = emu.http.post(f"{U}/buckets/{bucket}/data", json={"ts": ts, **fields})
    assert r.status_code == 200, r.text


@pytest.fixture
def hourly(emulator: InProcessEmulator) -> InProcessEmulator:
    """Bucket b1: hour 0 holds t=1,2,3,3 (h=10 once, a text field), hour 2 holds t=10."""
    create_bucket(emulator, "b1")
    write(emulator, "b1", T0 + 1000, t=1, h=10, label="a")
    write(emulator, "b1", T0 + 2000, t=2, on=True)
    write(emulator, "b1", T0 + 3000, t=3)
    write(emulator, "b1", T0 + 4000, t=3, nested={"x": 1})
    write(emulator, "b1", T0 + 2 * H + 5, t=10)
    return emulator


@pytest.mark.parametrize(
    ("agg_type", "hour0"),
    [
        ("mean", {"t": 2.25, "h": 10.0}),
        ("min", {"t": 1, "h": 10}),
        ("max", {"t": 3, "h": 10}),
        ("sum", {"t": 9, "h": 10}),
        ("count", {"t": 4, "h": 1}),
        ("median", {"t": 2.5, "h": 10}),
        ("mode", {"t": 3, "h": 10}),
        ("spread", {"t": 2, "h": 0}),
        ("stddev", {"t": statistics.stdev([1, 2, 3, 3])}),  # one value: no deviation, left out
    ],
)
def test_each_agg_type_over_numeric_fields(
    hourly: InProcessEmulator, agg_type: str, hour0: dict[str, float]
) -> None:
    got = records(hourly, agg="1h", agg_type=agg_type, sort="asc")
    # Intervals start on the hour; the empty hour 1 is left out; text, booleans and objects are not numbers.
    assert [g["ts"] for g in got] == [T0, T0 + 2 * H]
    assert got[0] == {agg_type: hour0, "ts": T0}
    assert list(got[0]) == [agg_type, "ts"]
    if agg_type not in ("stddev", "spread", "count"):
        assert got[1][agg_type] == {"t": 10 if agg_type != "mean" else 10.0}


def test_aggregation_order_items_bounds_and_v2(hourly: InProcessEmulator) -> None:
    desc = records(hourly, agg="1h", agg_type="max")
    assert [g["ts"] for g in desc] == [T0 + 2 * H, T0]
    assert records(hourly, agg="1h", agg_type="max", items="1") == [{"max": {"t": 10}, "ts": T0 + 2 * H}]
    # Bounds apply to the records before they are grouped.
    got = records(hourly, agg="1h", agg_type="sum", min_ts=str(T0 + 2500), max_ts=str(T0 + 5000))
    assert got == [{"sum": {"t": 6}, "ts": T0}]
    r = hourly.http.get("/v2/users/local/buckets/b1/data", params={"agg": "1d", "agg_type": "count"})
    assert r.status_code == 200 and r.json() == [{"ts": T0, "t": 5, "h": 1}]
    # agg without agg_type: mean.
    assert records(hourly, agg="1d")[0] == {"mean": {"t": 19 / 5, "h": 10.0}, "ts": T0}


def test_timezone_lays_out_days_and_weeks(emulator: InProcessEmulator) -> None:
    create_bucket(emulator, "b1")
    madrid = ZoneInfo("Europe/Madrid")  # UTC+1 in January
    write(emulator, "b1", T0 - 30 * 60_000, v=1)  # 2025-12-31 23:30 UTC = 2026-01-01 00:30 Madrid
    write(emulator, "b1", T0 + 30 * 60_000, v=3)
    utc = records(emulator, agg="1d", agg_type="sum", sort="asc")
    assert [(g["ts"], g["sum"]["v"]) for g in utc] == [(T0 - 86_400_000, 1), (T0, 3)]
    local = records(emulator, agg="1d", agg_type="sum", tz="Europe/Madrid")
    start = int(datetime(2026, 1, 1, tzinfo=madrid).timestamp() * 1000)
    assert local == [{"sum": {"v": 4}, "ts": start}]
    # Weeks start on Monday (2025-12-29), months and years on the first day, in the time zone.
    week = records(emulator, agg="1w", agg_type="count", tz="Europe/Madrid")
    assert week[0]["ts"] == int(datetime(2025, 12, 29, tzinfo=madrid).timestamp() * 1000)
    month = records(emulator, agg="1mo", agg_type="count", sort="asc")
    assert [g["ts"] for g in month] == [
        int(datetime(2025, 12, 1, tzinfo=UTC).timestamp() * 1000),
        T0,
    ]
    assert records(emulator, agg="1y", agg_type="count", tz="Europe/Madrid")[0]["count"] == {"v": 2}
    # 15-minute intervals.
    assert records(emulator, agg="15m", agg_type="max", sort="asc")[1]["ts"] == T0 + 30 * 60_000


def test_zero_and_empty_bounds_mean_no_bound(hourly: InProcessEmulator) -> None:
    assert len(records(hourly, min_ts="0", max_ts="0")) == 5
    assert len(records(hourly, max_ts="0")) == 5
    assert len(records(hourly, min_ts="", max_ts="", items="", sort="", agg="", agg_type="", tz="")) == 5
    assert len(records(hourly, min_ts=str(T0 + 3000))) == 3


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"agg": "1hour"}, "agg"),
        ({"agg": "0h"}, "agg"),
        ({"agg": "1h", "agg_type": "first"}, "agg_type"),
        ({"agg_type": "mean"}, "agg_type"),
        ({"agg": "1h", "tz": "Mars/Olympus"}, "tz"),
        ({"tz": "Nowhere"}, "tz"),
        ({"tag_device": "d1"}, "tag_device"),
        ({"transform": "derivative"}, "transform"),
        ({"min_ts": "-5"}, "min_ts"),
        ({"max_ts": "soon"}, "max_ts"),
    ],
)
def test_queries_not_honoured_are_400(hourly: InProcessEmulator, params: dict[str, str], named: str) -> None:
    r = hourly.http.get(f"{U}/buckets/b1/data", params=params)
    assert r.status_code == 400
    assert named in error(r)


def test_bucket_and_endpoint_lists_take_name_count_index(emulator: InProcessEmulator) -> None:
    for b, name in (("a1", "Kitchen"), ("b2", "Garage"), ("c3", "kitchen two"), ("d4", "Roof")):
        create_bucket(emulator, b, name=name)
    ids = lambda r: [x["bucket"] for x in r.json()]  # noqa: E731
    assert ids(emulator.http.get(f"{U}/buckets", params={"name": "KITCHEN"})) == ["a1", "c3"]
    assert ids(emulator.http.get(f"{U}/buckets", params={"name": "b2"})) == ["b2"]
    assert ids(emulator.http.get(f"{U}/buckets", params={"count": "2", "index": "1"})) == ["b2", "c3"]
    assert ids(emulator.http.get(f"{U}/buckets", params={"name": "", "count": "50", "index": "0"})) == [
        "a1",
        "b2",
        "c3",
        "d4",
    ]
    assert ids(emulator.http.get(f"{U}/buckets", params={"index": "9"})) == []
    r = emulator.http.get(f"{U}/buckets", params={"count": "-1"})
    assert r.status_code == 400 and "count" in error(r)
    for e in ("e1", "e2", "e3"):
        create_endpoint(emulator, e, {"url": "http://127.0.0.1:9/", "method": "POST"}, name=f"Hook {e}")
    r = emulator.http.get(f"{U}/endpoints", params={"name": "hook", "count": "1", "index": "2"})
    assert [x["endpoint"] for x in r.json()] == ["e3"]
    r = emulator.http.get(f"{U}/endpoints", params={"index": "x"})
    assert r.status_code == 400 and "index" in error(r)


def test_range_delete_deletes_that_range_only(hourly: InProcessEmulator) -> None:
    r = hourly.http.delete(
        f"{U}/buckets/b1/data", params={"min_ts": str(T0 + 2000), "max_ts": str(T0 + 3000)}
    )
    assert r.status_code == 200
    assert r.json() == {"bucket": "b1", "deleted": 2, "min_ts": T0 + 2000, "max_ts": T0 + 3000}
    assert [x["ts"] for x in records(hourly, sort="asc")] == [T0 + 1000, T0 + 4000, T0 + 2 * H + 5]
    r = hourly.http.delete(f"{U}/buckets/b1/data", params={"min_ts": str(T0 + 2 * H)})
    assert r.json()["deleted"] == 1
    r = hourly.http.delete(f"{U}/buckets/b1/data", params={"max_ts": "oops"})
    assert r.status_code == 400 and "max_ts" in error(r)
    assert len(records(hourly)) == 2  # the bad request deleted nothing
    r = hourly.http.delete(f"{U}/buckets/b1/data", params={"min_ts": "0", "max_ts": "0"})
    assert r.json() == {"bucket": "b1", "deleted": 2}
    assert records(hourly) == []


def test_device_scoped_buckets(emulator: InProcessEmulator) -> None:
    create_device(emulator, "d1")
    create_device(emulator, "d2")
    create_bucket(emulator, "shared")
    create_bucket(emulator, "other")
    create_bucket(
        emulator,
        "res",
        config={"source": "device", "device": "d1", "resource": "data", "update": "interval", "interval": 60},
    )
    set_callback(emulator, "d1", write_bucket="shared")
    set_callback(emulator, "d2", write_bucket="shared")
    assert post_data(emulator, {"ts": T0, "t": 1}, device="d1").status_code == 200
    assert post_data(emulator, {"ts": T0 + 1, "t": 2}, device="d2").status_code == 200
    write(emulator, "shared", T0 + 2, t=3)  # through the API: no device
    r = emulator.http.get(f"{V3}/devices/d1/buckets")
    assert r.status_code == 200 and [b["bucket"] for b in r.json()] == ["res", "shared"]
    assert r.json()[1] == emulator.http.get(f"{U}/buckets/shared").json()
    r = emulator.http.get(f"{V3}/devices/d1/buckets", params={"name": "sha", "count": "1"})
    assert [b["bucket"] for b in r.json()] == ["shared"]
    assert emulator.http.get(f"{V3}/devices/nope/buckets").status_code == 404
    r = emulator.http.get("/v1/users/local/devices/d1/buckets/shared/data")
    assert r.status_code == 200 and r.json() == [{"ts": T0, "val": {"t": 1}}]
    r = emulator.http.get(
        "/v2/users/local/devices/d2/buckets/shared/data", params={"agg": "1h", "agg_type": "sum"}
    )
    assert r.json() == [{"ts": T0, "t": 2}]
    assert emulator.http.get("/v3/users/local/devices/d2/buckets/shared/data").json() == [
        {"ts": T0 + 1, "t": 2}
    ]
    assert len(records(emulator, "shared")) == 3
    assert emulator.http.get("/v1/users/local/devices/d1/buckets/nope/data").status_code == 404
    assert emulator.http.get("/v1/users/local/devices/nope/buckets/shared/data").status_code == 404
    assert emulator.http.get("/v9/users/local/devices/d1/buckets/shared/data").status_code == 404
    r = emulator.http.get("/v1/users/local/devices/d1/buckets/shared/data", params={"agg": "1x"})
    assert r.status_code == 400 and "agg" in error(r)
    assert emulator.anon("GET", f"{V3}/devices/d1/buckets").status_code == 401


def test_aggregation_edges_never_fail(emulator: InProcessEmulator) -> None:
    """Sums beyond a double, and times whose local date is past year 9999, are no 500."""
    create_bucket(emulator, "b1")
    last = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: in Tokyo already year 10000
    write(emulator, "b1", last, big=1.7e308, t=1)
    write(emulator, "b1", last - 1, big=1.7e308, t=2)
    for agg_type in ("mean", "sum", "stddev", "max"):
        r = emulator.http.get(
            f"{U}/buckets/b1/data", params={"agg": "1y", "agg_type": agg_type, "tz": "Asia/Tokyo"}
        )
        assert r.status_code == 200, (agg_type, r.text)
        assert r.json()[0][agg_type]["t"] in (1.5, 3, 2, statistics.stdev([1, 2]))
    got = records(emulator, agg="1h", agg_type="sum")
    assert "big" not in got[0]["sum"]  # the sum is beyond a double: left out


def test_the_documented_tz_enum_is_the_tz_database(emulator: InProcessEmulator) -> None:
    """The ``tz`` of a read, as /_emulator/openapi.json publishes it: UTC first, then the system's
    IANA names (listed when the document is built, not at import)."""
    doc = emulator.anon("GET", "/_emulator/openapi.json").json()
    read = doc["paths"]["/v1/users/{user}/buckets/{bucket}/data"]["get"]
    (tz,) = [p for p in read["parameters"] if p["name"] == "tz"]
    names = tz["schema"]["enum"]
    assert names[0] == "UTC" and "UTC" not in names[1:]
    assert "Europe/Madrid" in names and names[1:] == sorted(names[1:])
    assert tz["schema"]["type"] == "string"


def test_importing_the_emulator_does_not_list_the_tz_database() -> None:
    """The tz database walk (tens of ms) is paid by the first document, not by every emulator start."""
    import subprocess
    import sys

    code = (
        "import zoneinfo\n"
        "def boom(): raise SystemExit('available_timezones called at import')\n"
        "zoneinfo.available_timezones = boom\n"
        "import iotcli.emulator.app\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
