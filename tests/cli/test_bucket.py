"""iotcli bucket create|list|show|delete|read|write|export against the in-process emulator."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.conftest import Cli
from tests.harness import InProcessEmulator

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def test_create_list_show(cli: Cli) -> None:
    r = cli(
        "bucket",
        "create",
        "readings",
        "--name",
        "Readings",
        "--description",
        "all of them",
        "--retention",
        "30d",
    )
    assert r.exit_code == 0, r.stderr
    assert "bucket 'readings' created" in r.stderr
    r = cli("--json", "bucket", "create", "apib", "--source", "api", "--disabled")
    assert r.exit_code == 0, r.stderr
    data = r.json()["data"]
    assert data["bucket"] == "apib" and data["config"]["source"] == "api" and data["enabled"] is False

    r = cli("bucket", "list")
    header, *rows = r.stdout.splitlines()
    assert header.split("\t") == ["BUCKET", "NAME", "SOURCE", "ENABLED", "RETENTION", "DESCRIPTION"]
    cells = {row.split("\t")[0]: row.split("\t") for row in rows}
    assert cells["readings"][1:4] == ["Readings", "write", "yes"] and cells["apib"][2:4] == ["api", "no"]
    assert json.loads(cells["readings"][4]) == {"period": 30, "unit": "days"}
    listed = cli("--json", "bucket", "list").json()["data"]
    assert sorted(b["bucket"] for b in listed) == ["apib", "readings"]

    shown = cli("--json", "bucket", "show", "readings").json()["data"]
    assert shown["name"] == "Readings" and shown["retention"] == {"period": 30, "unit": "days"}
    r = cli("bucket", "show", "readings")
    assert r.exit_code == 0 and any(
        line.startswith("description") and "all of them" in line for line in r.stdout.splitlines()
    )


def test_create_errors(cli: Cli) -> None:
    assert cli("bucket", "create", "b1").exit_code == 0
    r = cli("bucket", "create", "b1")
    assert r.exit_code == 4 and "b1" in r.stderr
    r = cli("bucket", "create", "b2", "--retention", "forever")
    assert r.exit_code == 2 and "--retention" in r.stderr
    assert cli("bucket", "create", "b2", "--source", "mqtt").exit_code == 2
    assert cli("bucket", "create", "x" * 33).exit_code == 2
    assert cli("bucket", "show", "nope").exit_code == 4


def test_write_and_read(cli: Cli) -> None:
    cli("bucket", "create", "b")
    assert cli("bucket", "write", "b", "--data", '{"t": 1}', "--ts", str(T0)).exit_code == 0
    r = cli("--json", "bucket", "write", "b", "--data", '{"t": 2, "h": 40}', "--ts", "2026-01-01T00:00:01Z")
    assert r.exit_code == 0, r.stderr
    assert r.json() == {"data": {"bucket": "b", "ts": T0 + 1000, "val": {"t": 2, "h": 40}}}
    cli("bucket", "write", "b", "--data", '{"t": 3}', "--ts", "2026-01-01T00:00:02")  # no zone = UTC

    recs = cli("--json", "bucket", "read", "b").json()["data"]
    assert recs == [
        {"ts": T0 + 2000, "val": {"t": 3}},
        {"ts": T0 + 1000, "val": {"t": 2, "h": 40}},
        {"ts": T0, "val": {"t": 1}},
    ]  # newest first by default
    asc = cli("--json", "bucket", "read", "b", "--sort", "asc", "-n", "2").json()["data"]
    assert [x["ts"] for x in asc] == [T0, T0 + 1000]
    window = cli(
        "--json", "bucket", "read", "b", "--min-ts", "2026-01-01T00:00:01Z", "--max-ts", str(T0 + 1000)
    ).json()["data"]
    assert [x["val"]["t"] for x in window] == [2]
    v2 = cli("--json", "bucket", "read", "b", "--v2", "--items", "1").json()["data"]
    assert v2 == [{"ts": T0 + 2000, "t": 3}]

    r = cli("bucket", "read", "b", "--sort", "asc")
    header, *rows = r.stdout.splitlines()
    assert header.split("\t") == ["TS", "T", "H"]
    assert rows[0].split("\t") == ["2026-01-01T00:00:00.000Z", "1", "-"]
    assert rows[1].split("\t") == ["2026-01-01T00:00:01.000Z", "2", "40"]
    r = cli("bucket", "read", "b", "--v2")
    assert r.stdout.splitlines()[0].split("\t") == ["TS", "T", "H"]


def test_same_ts_replaces(cli: Cli) -> None:
    cli("bucket", "create", "b")
    cli("bucket", "write", "b", "--data", '{"v": "old"}', "--ts", str(T0))
    cli("bucket", "write", "b", "--data", '{"v": "new"}', "--ts", str(T0))
    assert cli("--json", "bucket", "read", "b").json()["data"] == [{"ts": T0, "val": {"v": "new"}}]


def test_write_and_read_errors(cli: Cli) -> None:
    cli("bucket", "create", "b")
    r = cli("bucket", "write", "b", "--data", "{not json")
    assert r.exit_code == 2 and "--data is not valid JSON" in r.stderr
    r = cli("bucket", "write", "b", "--data", "[1, 2]")
    assert r.exit_code == 2 and "JSON object" in r.stderr
    assert cli("bucket", "write", "b", "--data", "{}", "--ts", "yesterday-ish").exit_code == 2
    assert cli("bucket", "write", "missing", "--data", "{}").exit_code == 4
    assert cli("bucket", "read", "b", "--items", "1001").exit_code == 2
    assert cli("bucket", "read", "b", "--sort", "up").exit_code == 2
    assert cli("bucket", "read", "b", "--min-ts", "nope").exit_code == 2
    assert cli("bucket", "read", "missing").exit_code == 4


def test_delete(cli: Cli) -> None:
    cli("bucket", "create", "b")
    cli("bucket", "write", "b", "--data", '{"v": 1}')
    r = cli("bucket", "delete", "b", "--records-only", "--yes")
    assert r.exit_code == 0 and "records of bucket 'b' deleted" in r.stderr
    assert cli("--json", "bucket", "read", "b").json()["data"] == []
    r = cli("--json", "bucket", "delete", "b", "--yes")
    assert r.json() == {"data": {"bucket": "b", "deleted": True}}
    assert cli("bucket", "show", "b").exit_code == 4
    assert cli("bucket", "delete", "b", "--yes").exit_code == 4


def test_export_every_record_jsonl_and_csv(cli: Cli, emulator: InProcessEmulator, tmp_path: Path) -> None:
    cli("bucket", "create", "big")
    total = 47  # pages of 10: the last page is short
    for i in range(total):
        val = {"n": i, "odd": True} if i % 2 else {"n": i}
        r = emulator.http.post("/v1/users/local/buckets/big/data", params={"ts": T0 + i}, json=val)
        assert r.status_code == 200, r.text
    out = tmp_path / "big.jsonl"
    r = cli("bucket", "export", "big", "-o", str(out), "--page-size", "10")
    assert r.exit_code == 0, r.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [rec["ts"] for rec in lines] == [T0 + i for i in range(total)]  # no gaps, no duplicates
    assert lines[3] == {"ts": T0 + 3, "val": {"n": 3, "odd": True}}
    assert f"{total} records" in r.stderr
    r = cli("bucket", "export", "big", "--page-size", "47")  # exactly one full page, then the end
    assert len(r.stdout.splitlines()) == total

    csv_out = tmp_path / "big.csv"
    r = cli(
        "--json",
        "bucket",
        "export",
        "big",
        "-f",
        "csv",
        "-o",
        str(csv_out),
        "--max-ts",
        str(T0 + 9),
        "--page-size",
        "4",
    )
    assert r.exit_code == 0 and r.json()["data"]["records"] == 10
    rows = list(csv.reader(io.StringIO(csv_out.read_text())))
    assert (
        rows[0] == ["ts", "n", "odd"]
        and rows[1] == [str(T0), "0", ""]
        and rows[2] == [str(T0 + 1), "1", "true"]
    )
    assert len(rows) == 11

    r = cli("bucket", "export", "big", "--min-ts", str(T0 + total - 2))  # to stdout
    assert [json.loads(x)["val"]["n"] for x in r.stdout.splitlines()] == [total - 2, total - 1]
    assert cli("bucket", "export", "missing").exit_code == 4
    assert cli("bucket", "export", "big", "--page-size", "1001").exit_code == 2
