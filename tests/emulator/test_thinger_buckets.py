"""Thinger surface: buckets and their records (v1 and v2 reads, query, retention)."""

from __future__ import annotations

import pytest

from tests.emulator.thinger_helpers import U, create_bucket, error, records
from tests.harness import InProcessEmulator


def test_bucket_crud(emulator: InProcessEmulator) -> None:
    b = create_bucket(emulator, "b1", description="temps", retention={"period": 30, "unit": "days"})
    assert b["bucket"] == "b1" and b["name"] == "B1" and b["enabled"] is True
    assert b["config"] == {"source": "api"} and b["retention"] == {"period": 30, "unit": "days"}
    assert b["created"] == b["modified"] > 0
    create_bucket(emulator, "a0")
    assert [x["bucket"] for x in emulator.http.get(f"{U}/buckets").json()] == ["a0", "b1"]
    assert emulator.http.get(f"{U}/buckets/b1").json() == b
    r = emulator.http.put(f"{U}/buckets/b1", json={"name": "Temps", "config": {"source": "write"}})
    assert r.status_code == 200 and r.json()["name"] == "Temps" and r.json()["config"] == {"source": "write"}
    r = emulator.http.put(f"{U}/buckets/b1", json={"bucket": "b1", "description": "same id is fine"})
    assert r.status_code == 200
    r = emulator.http.put(f"{U}/buckets/b1", json={"bucket": "b2"})
    assert r.status_code == 400 and "bucket" in error(r)
    r = emulator.http.delete(f"{U}/buckets/b1")
    assert r.status_code == 200 and r.json()["bucket"] == "b1"
    for method in ("GET", "PUT", "DELETE"):
        r = emulator.http.request(method, f"{U}/buckets/b1", json={"name": "x"} if method == "PUT" else None)
        assert r.status_code == 404, method


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"bucket": "b", "enabled": True, "config": {"source": "api"}}, "name"),
        ({"bucket": "b", "name": "n", "config": {"source": "api"}}, "enabled"),
        ({"bucket": "b", "name": "n", "enabled": True}, "config"),
        ({"bucket": "b", "name": "n", "enabled": True, "config": {"source": "ftp"}}, "config.source"),
        ({"bucket": "b", "name": "n", "enabled": True, "config": {"source": "mqtt"}}, "config.topic"),
        ({"bucket": "b", "name": "n", "enabled": True, "config": {"source": "api", "x": 1}}, "config.x"),
        (
            {
                "bucket": "b",
                "name": "n",
                "enabled": True,
                "config": {"source": "api"},
                "retention": {"period": -1},
            },
            "retention.period",
        ),
        ({"bucket": "b c", "name": "n", "enabled": True, "config": {"source": "api"}}, "bucket"),
        ({"bucket": "b", "name": "n", "enabled": True, "config": {"source": "api"}, "owner": "me"}, "owner"),
    ],
)
def test_bucket_create_validation(emulator: InProcessEmulator, body: dict[str, object], field: str) -> None:
    r = emulator.http.post(f"{U}/buckets", json=body)
    assert r.status_code == 400
    assert field in error(r)


def test_duplicate_bucket(emulator: InProcessEmulator) -> None:
    create_bucket(emulator, "b1")
    r = emulator.http.post(
        f"{U}/buckets", json={"bucket": "b1", "name": "x", "enabled": True, "config": {"source": "api"}}
    )
    assert r.status_code == 400 and "already exists" in error(r)


def test_write_and_read_records(emulator: InProcessEmulator) -> None:
    create_bucket(emulator, "b1")
    for i in range(5):
        r = emulator.http.post(f"{U}/buckets/b1/data", json={"ts": 1000 * (i + 1), "n": i, "tag": "x"})
        assert r.status_code == 200 and r.json() == {"ts": 1000 * (i + 1), "val": {"n": i, "tag": "x"}}
    r = emulator.http.post(f"{U}/buckets/b1/data", params={"ts": "9000"}, json={"n": 9})
    assert r.json()["ts"] == 9000
    got = records(emulator)
    assert [g["ts"] for g in got] == [9000, 5000, 4000, 3000, 2000, 1000]  # default: newest first
    assert got[1] == {"ts": 5000, "val": {"n": 4, "tag": "x"}}
    v2 = emulator.http.get("/v2/users/local/buckets/b1/data", params={"items": 2}).json()
    assert v2 == [{"ts": 9000, "n": 9}, {"ts": 5000, "n": 4, "tag": "x"}]
    asc = records(emulator, sort="asc", min_ts=2000, max_ts=4000)
    assert [g["ts"] for g in asc] == [2000, 3000, 4000]
    assert [g["ts"] for g in records(emulator, items=1, sort="asc")] == [1000]
    # The same ts replaces.
    emulator.http.post(f"{U}/buckets/b1/data", json={"ts": 1000, "n": 100})
    assert records(emulator, sort="asc", items=1) == [{"ts": 1000, "val": {"n": 100}}]
    r = emulator.http.delete(f"{U}/buckets/b1/data")
    assert r.status_code == 200 and r.json()["deleted"] == 6
    assert records(emulator) == []


def test_default_and_max_items(emulator: InProcessEmulator) -> None:
    create_bucket(emulator, "b1")
    for i in range(120):
        emulator.http.post(f"{U}/buckets/b1/data", json={"ts": i + 1, "n": i})
    assert len(records(emulator)) == 100
    assert len(records(emulator, items=1000)) == 120


@pytest.mark.parametrize(
    "params",
    [
        {"items": "0"},
        {"items": "1001"},
        {"items": "many"},
        {"sort": "up"},
        {"min_ts": "x"},
        {"max_ts": "1.5"},
    ],
)
def test_read_query_errors(emulator: InProcessEmulator, params: dict[str, str]) -> None:
    create_bucket(emulator, "b1")
    r = emulator.http.get(f"{U}/buckets/b1/data", params=params)
    assert r.status_code == 400
    assert next(iter(params)) in error(r)


def test_record_errors(emulator: InProcessEmulator) -> None:
    create_bucket(emulator, "mq", config={"source": "mqtt", "topic": "house/+/t"})
    create_bucket(emulator, "off", enabled=False)
    r = emulator.http.post(f"{U}/buckets/mq/data", json={"a": 1})
    assert r.status_code == 400 and "mqtt" in error(r)
    r = emulator.http.post(f"{U}/buckets/off/data", json={"a": 1})
    assert r.status_code == 400 and "disabled" in error(r)
    assert emulator.http.post(f"{U}/buckets/nope/data", json={"a": 1}).status_code == 404
    assert emulator.http.get(f"{U}/buckets/nope/data").status_code == 404
    assert emulator.http.get("/v2/users/local/buckets/nope/data").status_code == 404
    assert emulator.http.delete(f"{U}/buckets/nope/data").status_code == 404
    create_bucket(emulator, "b1")
    r = emulator.http.post(f"{U}/buckets/b1/data", json=[1, 2])
    assert r.status_code == 400 and "object" in error(r)
    assert emulator.anon("GET", f"{U}/buckets/b1/data").status_code == 401
    assert emulator.http.get("/v1/users/bob/buckets/b1/data").status_code == 403
    assert emulator.http.get(f"{U}/buckets/b.1/data").status_code == 400


def test_retention_prunes_old_records(emulator: InProcessEmulator) -> None:
    create_bucket(emulator, "b1", retention={"period": 1, "unit": "hours"})
    now = emulator.http.get("/_emulator/clock").json()["now_ms"]
    emulator.http.post(f"{U}/buckets/b1/data", json={"ts": now - 2 * 3600_000, "age": "old"})
    emulator.http.post(f"{U}/buckets/b1/data", json={"ts": now - 60_000, "age": "recent"})
    assert [r["val"]["age"] for r in records(emulator)] == ["recent"]
    # Time passes: the recent record ages out too.
    emulator.advance(3600)
    assert records(emulator) == []
    # Retention 0 keeps everything.
    create_bucket(emulator, "keep", retention={"period": 0, "unit": "days"})
    emulator.http.post(f"{U}/buckets/keep/data", json={"ts": 1, "a": 1})
    assert len(records(emulator, "keep")) == 1
