"""bucket export against a contract server without export files: every page, no gaps, no duplicates
(respx fake server); and through a server's export file (POST .../exports, GET the file)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from tests.harness import run_cli

API = "http://api.test"
DATA = f"{API}/v1/users/acme/buckets/b1/data"
EXPORTS = f"{API}/v1/users/acme/buckets/b1/exports"


def no_exports() -> None:
    """The server has no export route: the CLI reads page by page."""
    respx.post(EXPORTS).mock(return_value=httpx.Response(404, json={"error": {"message": "not found"}}))


def fake_bucket(records: list[dict[str, Any]], *, inclusive: bool, calls: list[dict[str, str]]) -> Any:
    """A bucket read route that pages like a server: items (max 1000), min_ts/max_ts, sort."""

    def handler(request: httpx.Request) -> httpx.Response:
        q = dict(request.url.params)
        calls.append(q)
        items = int(q.get("items", 100))
        assert items <= 1000
        low = int(q["min_ts"]) if "min_ts" in q else None
        high = int(q["max_ts"]) if "max_ts" in q else None
        rows = [
            r
            for r in records
            if (low is None or (r["ts"] >= low if inclusive else r["ts"] > low))
            and (high is None or r["ts"] <= high)
        ]
        rows.sort(key=lambda r: r["ts"], reverse=q.get("sort", "desc") == "desc")
        return httpx.Response(200, json=rows[:items])

    return handler


def cli(*args: str) -> Any:
    return run_cli(["--server", API, "--user", "acme", "--token", "t0k3n", *args])


@pytest.mark.parametrize("inclusive", [True, False])
@respx.mock
def test_export_fetches_every_page_once(tmp_path: Path, inclusive: bool) -> None:
    no_exports()
    records = [{"ts": 1_000 + i * 7, "val": {"n": i}} for i in range(2_345)]
    calls: list[dict[str, str]] = []
    respx.get(DATA).mock(side_effect=fake_bucket(records, inclusive=inclusive, calls=calls))
    out = tmp_path / "b1.jsonl"
    r = cli("bucket", "export", "b1", "-o", str(out))
    assert r.exit_code == 0, r.stderr
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == records  # all of them, oldest first, each once
    assert len(calls) >= 3 and all(c["items"] == "1000" and c["sort"] == "asc" for c in calls)
    assert "2345 records" in r.stderr


@respx.mock
def test_export_exact_multiple_of_page_size_terminates(tmp_path: Path) -> None:
    no_exports()
    records = [{"ts": 10 + i, "val": {"n": i}} for i in range(2_000)]
    calls: list[dict[str, str]] = []
    respx.get(DATA).mock(side_effect=fake_bucket(records, inclusive=True, calls=calls))
    r = cli("bucket", "export", "b1")
    assert r.exit_code == 0, r.stderr
    assert [json.loads(line)["ts"] for line in r.stdout.splitlines()] == [rec["ts"] for rec in records]
    assert len(calls) == 3  # two full pages, then one that only repeats the last record


@respx.mock
def test_export_window_and_csv_union_of_fields(tmp_path: Path) -> None:
    no_exports()
    records = [
        {"ts": 100, "val": {"t": 1}},
        {"ts": 200, "val": {"t": 2, "h": 40}},
        {"ts": 300, "val": {"geo": {"lat": 1.5}, "ok": True}},
        {"ts": 400, "val": {"t": 4}},
    ]
    calls: list[dict[str, str]] = []
    respx.get(DATA).mock(side_effect=fake_bucket(records, inclusive=True, calls=calls))
    out = tmp_path / "b1.csv"
    r = cli(
        "--json",
        "bucket",
        "export",
        "b1",
        "--format",
        "csv",
        "-o",
        str(out),
        "--min-ts",
        "150",
        "--max-ts",
        "300",
    )
    assert r.exit_code == 0, r.stderr
    assert r.json() == {"data": {"bucket": "b1", "records": 2, "format": "csv", "file": str(out)}}
    assert calls[0]["min_ts"] == "150" and calls[0]["max_ts"] == "300"
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows == [
        ["ts", "t", "h", "geo", "ok"],
        ["200", "2", "40", "", ""],
        ["300", "", "", '{"lat":1.5}', "true"],
    ]


@respx.mock
def test_export_json_to_stdout_is_a_usage_error() -> None:
    no_exports()
    r = cli("--json", "bucket", "export", "b1")
    assert r.exit_code == 2
    assert "-o FILE" in r.json()["error"]["hint"]


@respx.mock
def test_export_api_error_exit_code() -> None:
    no_exports()
    respx.get(DATA).mock(return_value=httpx.Response(404, json={"error": {"message": "bucket not found"}}))
    r = cli("bucket", "export", "b1")
    assert r.exit_code == 4 and "bucket not found" in r.stderr
    respx.get(DATA).mock(return_value=httpx.Response(503, json={"error": {"message": "busy"}}))
    assert cli("bucket", "export", "b1").exit_code == 5


class _Tty:
    """A stderr that says it is a terminal (progress is only drawn on one)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def write(self, text: str) -> int:
        return int(self.inner.write(text))

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return True


@respx.mock
def test_export_progress_on_a_terminal_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import iotcli.cli.app as app_module
    from iotcli.cli.output import Output

    no_exports()
    records = [{"ts": i, "val": {"n": i}} for i in range(1, 2_501)]
    respx.get(DATA).mock(side_effect=fake_bucket(records, inclusive=True, calls=[]))
    r = cli("bucket", "export", "b1", "-o", str(tmp_path / "a.jsonl"))
    assert "\r" not in r.stderr  # piped: no progress line

    def tty_output(**kwargs: Any) -> Output:
        out = Output(**kwargs)
        out.stderr = _Tty(out.stderr)  # type: ignore[assignment]
        return out

    monkeypatch.setattr(app_module, "Output", tty_output)
    r = cli("bucket", "export", "b1", "-o", str(tmp_path / "b.jsonl"))
    assert r.exit_code == 0, r.stderr
    assert "\rexported 1000 records" in r.stderr and "\rexported 2500 records\n" in r.stderr
    assert (tmp_path / "b.jsonl").read_text() == (tmp_path / "a.jsonl").read_text()


@respx.mock
def test_export_through_the_server_export_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server with exports: the CLI asks for the file, waits while it is being made, downloads it
    and deletes it; no page-by-page read."""
    monkeypatch.setattr("iotcli.cli.bucket_export.POLL_SECONDS", 0.01)
    made = respx.post(EXPORTS).mock(
        return_value=httpx.Response(200, json={"file": "f1", "records": 2, "status": "completed"})
    )
    content = json.dumps([{"ts": 1, "val": {"a": 1}}, {"ts": 2, "val": {"a": 2}}])
    download = respx.get(f"{EXPORTS}/f1").mock(
        side_effect=[
            httpx.Response(404, json={"error": {"message": "not ready"}}),
            httpx.Response(200, text=content),
        ]
    )
    deleted = respx.delete(f"{EXPORTS}/f1").mock(return_value=httpx.Response(200, json={}))
    read = respx.get(DATA).mock(return_value=httpx.Response(200, json=[]))
    r = cli("bucket", "export", "b1", "--min-ts", "1", "--max-ts", "5")
    assert r.exit_code == 0, r.stderr
    assert [json.loads(line) for line in r.stdout.splitlines()] == [
        {"ts": 1, "val": {"a": 1}},
        {"ts": 2, "val": {"a": 2}},
    ]
    body = json.loads(made.calls[0].request.content)
    assert body == {"data_type": "json", "timestamp_format": "milliseconds", "min_ts": 1, "max_ts": 5}
    assert download.call_count == 2 and deleted.call_count == 1 and read.call_count == 0
    csv_text = "ts,a\n1,1\n"
    respx.post(EXPORTS).mock(return_value=httpx.Response(200, json={"file": "f2", "records": 1}))
    respx.get(f"{EXPORTS}/f2").mock(return_value=httpx.Response(200, text=csv_text))
    respx.delete(f"{EXPORTS}/f2").mock(return_value=httpx.Response(500))  # a failed clean-up is no failure
    out = tmp_path / "b1.csv"
    r = cli("--json", "bucket", "export", "b1", "-f", "csv", "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert out.read_text() == csv_text and r.json()["data"]["records"] == 1
