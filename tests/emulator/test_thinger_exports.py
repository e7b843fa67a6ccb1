"""Thinger surface: bucket exports (``/v1/users/{user}/buckets/{bucket}/exports``), CSV, JSON and ARFF."""

from __future__ import annotations

import csv
import io

import pytest

from tests.emulator.thinger_helpers import U, create_bucket, create_endpoint, error, events
from tests.harness import InProcessEmulator, Sink

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture
def filled(emulator: InProcessEmulator) -> InProcessEmulator:
    create_bucket(emulator, "b1")
    for ts, rec in (
        (T0 + 1500, {"t": 21.5, "room": "kitchen"}),
        (T0, {"t": 20, "nested": {"a": 1}}),
        (T0 + 3000, {"on": True, "t": 22}),
    ):
        assert emulator.http.post(f"{U}/buckets/b1/data", json={"ts": ts, **rec}).status_code == 200
    return emulator


def export(emu: InProcessEmulator, **body: object) -> dict[str, object]:
    r = emu.http.post(f"{U}/buckets/b1/exports", json=body)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_csv_export_by_default_then_download_list_and_delete(filled: InProcessEmulator) -> None:
    made = export(filled)
    assert made["data_type"] == "csv" and made["timestamp_format"] == "milliseconds"
    assert made["records"] == 3 and made["status"] == "completed"
    file = str(made["file"])
    assert file.startswith("csv-") and str(made["url"]).endswith(f"/v1/users/local/buckets/b1/exports/{file}")
    r = filled.http.get(f"{U}/buckets/b1/exports/{file}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows == [
        ["ts", "t", "nested", "room", "on"],
        [str(T0), "20", '{"a":1}', "", ""],
        [str(T0 + 1500), "21.5", "", "kitchen", ""],
        [str(T0 + 3000), "22", "", "", "true"],
    ]
    assert made["size"] == len(r.content)
    listed = filled.http.get(f"{U}/buckets/b1/exports").json()
    assert listed == [made]
    assert events(filled, "bucket.export_completed")[-1]["file"] == file
    r = filled.http.delete(f"{U}/buckets/b1/exports/{file}")
    assert r.status_code == 200 and r.json() == made
    assert filled.http.get(f"{U}/buckets/b1/exports/{file}").status_code == 404
    assert filled.http.delete(f"{U}/buckets/b1/exports/{file}").status_code == 404
    assert filled.http.get(f"{U}/buckets/b1/exports").json() == []


def test_json_export_with_range_and_time_formats(filled: InProcessEmulator) -> None:
    made = export(filled, data_type="json", min_ts=T0 + 1, max_ts=T0 + 3000, timestamp_format="iso")
    assert made["records"] == 2 and made["min_ts"] == T0 + 1 and made["max_ts"] == T0 + 3000
    r = filled.http.get(f"{U}/buckets/b1/exports/{made['file']}")
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == [
        {"ts": "2026-01-01T00:00:01.500Z", "val": {"t": 21.5, "room": "kitchen"}},
        {"ts": "2026-01-01T00:00:03.000Z", "val": {"on": True, "t": 22}},
    ]
    made = export(filled, data_type="json", timestamp_format="seconds", min_ts=0, max_ts=0)
    body = filled.http.get(f"{U}/buckets/b1/exports/{made['file']}").json()
    assert [x["ts"] for x in body] == [T0 // 1000, T0 / 1000 + 1.5, T0 // 1000 + 3]


def test_arff_export(filled: InProcessEmulator) -> None:
    made = export(filled, data_type="arff")
    text = filled.http.get(f"{U}/buckets/b1/exports/{made['file']}").text
    assert "@RELATION 'b1'" in text and "@ATTRIBUTE ts NUMERIC" in text
    assert "@ATTRIBUTE 't' NUMERIC" in text and "@ATTRIBUTE 'room' STRING" in text
    data = text.split("@DATA\n")[1].splitlines()
    assert data[1] == f"{T0 + 1500},21.5,?,'kitchen',?"


def test_endpoint_callback_is_called_with_the_file(filled: InProcessEmulator, sink: Sink) -> None:
    create_endpoint(filled, "notify", {"url": sink.url + "/done", "method": "POST"})
    made = export(filled, callback="endpoint", endpoint="notify")
    got = sink.wait_for(1)[0]
    assert got.json()["file"] == made["file"] and got.json()["url"] == made["url"]
    email = export(filled, callback="email")
    assert (
        "no email" in events(filled, "bucket.export_completed")[-1]["note"] and email["callback"] == "email"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"data_type": "xml"}, "data_type"),
        ({"timestamp_format": "hours"}, "timestamp_format"),
        ({"min_ts": -1}, "min_ts"),
        ({"format": "csv"}, "format"),
        ({"callback": "endpoint"}, "endpoint"),
        ({"callback": "endpoint", "endpoint": "nope"}, "endpoint"),
    ],
)
def test_export_errors_name_the_field_and_make_nothing(
    filled: InProcessEmulator, body: dict[str, object], field: str
) -> None:
    r = filled.http.post(f"{U}/buckets/b1/exports", json=body)
    assert r.status_code == 400 and field in error(r)
    assert filled.http.get(f"{U}/buckets/b1/exports").json() == []


def test_export_of_missing_bucket_and_bucket_delete_drops_exports(filled: InProcessEmulator) -> None:
    assert filled.http.post(f"{U}/buckets/nope/exports", json={}).status_code == 404
    assert filled.http.get(f"{U}/buckets/nope/exports").status_code == 404
    made = export(filled)
    filled.http.delete(f"{U}/buckets/b1")
    create_bucket(filled, "b1")
    assert filled.http.get(f"{U}/buckets/b1/exports/{made['file']}").status_code == 404
    assert filled.anon("GET", f"{U}/buckets/b1/exports").status_code == 401
