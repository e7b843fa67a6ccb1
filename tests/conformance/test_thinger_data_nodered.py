"""The Thinger Node-RED nodes' data requests, replayed against the emulator.

Sources, all in thinger-io/node-red-contrib-thinger:
- ``nodes/bucket-read.js``: the query string (a Map in the order items, agg, agg_type, sort, tz, tags,
  max_ts, min_ts; empty values skipped; a trailing ``&``), pages of 1000 that continue from
  ``payload[999].ts - 1``, "last N items" read newest first then sorted;
- ``nodes/thinger-server.js`` ``iterateAssets``: ``/v1/users/{user}/buckets?name=&count=50&index=N``
  until a page is shorter than 50;
- ``nodes/bucket-export.js``: ``POST .../exports`` with ``data_type``, ``timestamp_format``, ``max_ts``,
  ``min_ts`` (0 and 0 for "all"), reading ``payload.file``;
- ``lib/utils/request.js``: how answers are read (JSON only when the content type is application/json;
  ``error.message`` of a 400).
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.harness import InProcessEmulator

USER = "local"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
H = 3_600_000


def request(emu: InProcessEmulator, method: str, url: str, data: Any = None) -> dict[str, Any]:
    """lib/utils/request.js: resolves {status, payload} (JSON when the type says so), or rejects."""
    r: httpx.Response = emu.anon(
        method, url, headers={"Authorization": f"Bearer {emu.token}"}, json=data if data is not None else None
    )
    if r.status_code == 404:
        return {"status": 404, "error": "not found"}
    payload: Any = r.content
    if r.headers.get("content-type", "").startswith("application/json"):
        payload = r.json()
    if r.status_code >= 400:
        message = payload["error"]["message"] if isinstance(payload, dict) else ""
        raise AssertionError(f"{r.status_code} ({message})")
    return {"status": r.status_code, "payload": payload}


def query_string(params: list[tuple[str, Any]]) -> str:
    """bucket-read.js: ``key=value&`` for every truthy value, in Map insertion order."""
    return "".join(f"{k}={v}&" for k, v in params if v)


def read_bucket(
    emu: InProcessEmulator, bucket: str, params: dict[str, Any], limit: int
) -> list[dict[str, Any]]:
    """bucket-read.js ``readBucket``: items capped at 1000, recursion from the last ts of a full page."""
    result: list[dict[str, Any]] = []
    while True:
        params["items"] = 1000 if limit > 1000 or limit < 0 else limit
        url = f"/v1/users/{USER}/buckets/{bucket}/data?{query_string(list(params.items()))}"
        res = request(emu, "GET", url)
        assert str(res["status"]).startswith("20")
        page = res["payload"]
        result += page
        limit = limit - len(page) if page else 0
        if limit != 0 and len(page) == 1000:
            if params["sort"] == "asc":
                params["min_ts"] = page[999]["ts"] - 1
            else:
                params["max_ts"] = page[999]["ts"] - 1
            continue
        return result


def node_params(**given: Any) -> dict[str, Any]:
    """The Map of the node's input handler, keys in its order (max_ts/min_ts added after tz)."""
    params: dict[str, Any] = {
        "items": given.get("items"),
        "agg": given.get("aggregation"),
        "agg_type": given.get("aggregation_type"),
        "sort": given.get("sort"),
        "tz": given.get("timezone"),
    }
    if "max_ts" in given:
        params["max_ts"] = given["max_ts"]
        params["min_ts"] = given["min_ts"]
    return params


def fill(emu: InProcessEmulator, bucket: str, count: int, step: int) -> None:
    assert (
        emu.http.post(
            f"/v1/users/{USER}/buckets",
            json={"bucket": bucket, "name": bucket, "enabled": True, "config": {"source": "api"}},
        ).status_code
        == 200
    )
    for i in range(count):
        r = emu.http.post(
            f"/v1/users/{USER}/buckets/{bucket}/data", json={"ts": T0 + i * step, "temp": i % 10}
        )
        assert r.status_code == 200


def test_absolute_timeframe_reads_every_page(emulator: InProcessEmulator) -> None:
    """filter "absolute", limit -1 (all): items=1000 pages, asc, min_ts moved to the last ts - 1."""
    fill(emulator, "b1", 1100, 1000)
    params = node_params(sort="asc", timezone="Europe/Madrid", max_ts=T0 + 1099 * 1000, min_ts=T0)
    rows = read_bucket(emulator, "b1", params, -1)
    # The node's own paging re-reads the last record of each full page (min_ts = last - 1, inclusive).
    assert sorted({r["ts"] for r in rows}) == [T0 + i * 1000 for i in range(1100)]
    assert all(set(r) == {"ts", "val"} and set(r["val"]) == {"temp"} for r in rows)


def test_last_n_items_read_newest_first_then_sorted(emulator: InProcessEmulator) -> None:
    """filter "simple" with sort asc: the node asks for desc and sorts the answer itself."""
    fill(emulator, "b1", 30, 1000)
    rows = read_bucket(emulator, "b1", node_params(items=5, sort="desc", timezone="UTC"), 5)
    rows.sort(key=lambda r: r["ts"])
    assert [r["ts"] for r in rows] == [T0 + i * 1000 for i in range(25, 30)]


def test_relative_timeframe_with_hourly_mean(emulator: InProcessEmulator) -> None:
    """aggregation "1h" with the preselected aggregationType "mean" and the browser's time zone."""
    fill(emulator, "b1", 180, 60_000)  # three hours of one reading a minute
    params = node_params(
        aggregation="1h",
        aggregation_type="mean",
        sort="asc",
        timezone="Europe/Madrid",
        max_ts=T0 + 3 * H,
        min_ts=T0,
    )
    rows = read_bucket(emulator, "b1", params, -1)
    assert [r["ts"] for r in rows] == [T0, T0 + H, T0 + 2 * H]
    assert all(r["mean"] == {"temp": 4.5} for r in rows)
    # An aggregation type the emulator cannot compute is refused, never answered with raw rows.
    params = node_params(aggregation="1h", aggregation_type="first", sort="asc", timezone="UTC")
    try:
        read_bucket(emulator, "b1", params, 10)
    except AssertionError as exc:
        assert "400" in str(exc) and "agg_type" in str(exc)
    else:
        raise AssertionError("agg_type=first was answered")


def test_iterate_assets_pages_the_bucket_list(emulator: InProcessEmulator) -> None:
    """thinger-server.js iterateAssets("buckets"): count=50, index += page length, until a short page."""
    for i in range(62):
        assert (
            emulator.http.post(
                f"/v1/users/{USER}/buckets",
                json={
                    "bucket": f"b{i:02d}",
                    "name": f"Bucket {i}",
                    "enabled": True,
                    "config": {"source": "api"},
                },
            ).status_code
            == 200
        )
    seen: list[dict[str, Any]] = []
    index = 0
    while True:
        res = request(emulator, "GET", f"/v1/users/{USER}/buckets?name=&count=50&index={index}")
        page = res["payload"]
        seen += page
        index += len(page)
        if len(page) != 50:
            break
    assert [b["bucket"] for b in seen] == [f"b{i:02d}" for i in range(62)]
    assert all(b["enabled"] is True and b["config"]["source"] == "api" and b["name"] for b in seen)
    res = request(emulator, "GET", f"/v1/users/{USER}/buckets?name=Bucket 6&count=50&index=0")
    assert [b["bucket"] for b in res["payload"]] == ["b06", "b60", "b61"]


def test_bucket_export_node_all_range(emulator: InProcessEmulator) -> None:
    """bucket-export.js with range "all": max_ts 0, min_ts 0; the node reads payload.file, then the file."""
    fill(emulator, "b1", 5, 1000)
    body = {"data_type": "csv", "timestamp_format": "milliseconds", "max_ts": 0, "min_ts": 0}
    res = request(emulator, "POST", f"/v1/users/{USER}/buckets/b1/exports", body)
    file = res["payload"]["file"]
    assert isinstance(file, str) and file
    content = request(emulator, "GET", f"/v1/users/{USER}/buckets/b1/exports/{file}")["payload"]
    assert content.decode().splitlines() == ["ts,temp"] + [f"{T0 + i * 1000},{i}" for i in range(5)]
    # A dataType left empty and no timestamp format: JSON.stringify drops the undefined keys.
    res = request(emulator, "POST", f"/v1/users/{USER}/buckets/b1/exports", {"max_ts": 0, "min_ts": 0})
    assert res["payload"]["data_type"] == "csv" and res["payload"]["records"] == 5
