"""``iotcli deliveries ...`` against a mocked server: how a journal record reads, and error cases."""

from __future__ import annotations

import json
from typing import Any

import httpx
import respx

from tests.harness import run_cli

API = "http://api.test"
BIG = json.dumps({"DevEUI_uplink": {"DevEUI": "0024AEB3C02BE1C4", "filler": "x" * 1000}})

RECORD: dict[str, Any] = {
    "id": "42",
    "kind": "uplink",
    "status": "failed",
    "user": "local",
    "device": "0024AEB3C02BE1C4",
    "endpoint": None,
    "connection": "c0ffee",
    "attempts": 2,
    "created": 1_700_000_000_000,
    "updated": 1_700_000_002_500,
    "next_attempt": None,
    "reason": "strict mode: 4 non-2xx answers",
    "attempt_log": [
        {
            "n": 1,
            "ts": 1_700_000_000_000,
            "method": "POST",
            "url": "http://127.0.0.1:9000/up?LrnDevEui=0024AEB3C02BE1C4",
            "headers": {"Content-Type": "application/json", "Authorization": "Bearer *****"},
            "body": BIG,
            "status": 503,
            "response_body": "busy\nretry later",
            "latency_ms": 12.345,
            "error": None,
        },
        {
            "n": 2,
            "ts": 1_700_000_002_000,
            "method": "POST",
            "url": "http://127.0.0.1:9000/up",
            "headers": {},
            "body": "{}",
            "status": None,
            "response_body": None,
            "latency_ms": None,
            "error": "connection refused",
        },
    ],
}


def remote(*args: str) -> list[str]:
    return ["--server", API, "--token", "t0k3n", *args]


@respx.mock
def test_show_renders_each_attempt_for_people() -> None:
    respx.get(f"{API}/_emulator/deliveries/42").mock(return_value=httpx.Response(200, json=RECORD))
    r = run_cli(remote("deliveries", "show", "42"))
    assert r.exit_code == 0, r.stderr
    out = r.stdout
    assert out.startswith("delivery 42  uplink  FAILED\n")
    assert "  connection:  c0ffee" in out and "  device:      0024AEB3C02BE1C4" in out
    assert "  created:     2023-11-14T22:13:20.000Z" in out
    assert "  reason:      strict mode: 4 non-2xx answers" in out
    assert "attempt 1  2023-11-14T22:13:20.000Z  -> 503 in 12.3 ms" in out
    assert "  > POST http://127.0.0.1:9000/up?LrnDevEui=0024AEB3C02BE1C4" in out
    assert "  > Authorization: Bearer *****" in out and "  > Content-Type: application/json" in out
    assert "  < 503" in out and "  < busy\\nretry later" in out  # one line per body
    assert "-v shows all" in out and "x" * 1000 not in out  # long bodies are cut
    assert "attempt 2  2023-11-14T22:13:22.000Z  -> no answer" in out
    assert "  error: connection refused" in out


@respx.mock
def test_show_verbose_prints_whole_bodies_and_json_is_raw() -> None:
    respx.get(f"{API}/_emulator/deliveries/42").mock(return_value=httpx.Response(200, json=RECORD))
    r = run_cli(remote("-v", "deliveries", "show", "42"))
    assert r.exit_code == 0 and "x" * 1000 in r.stdout
    r = run_cli(remote("--json", "deliveries", "show", "42"))
    assert r.exit_code == 0 and r.json() == {"data": RECORD}


@respx.mock
def test_show_pending_without_attempts() -> None:
    record = {
        **RECORD,
        "status": "pending",
        "attempts": 0,
        "attempt_log": [],
        "next_attempt": 1_700_000_300_000,
    }
    respx.get(f"{API}/_emulator/deliveries/7").mock(return_value=httpx.Response(200, json=record))
    r = run_cli(remote("deliveries", "show", "7"))
    assert r.exit_code == 0
    assert "PENDING" in r.stdout and "next try:    2023-11-14T22:18:20.000Z" in r.stdout
    assert "(no attempt yet)" in r.stdout


@respx.mock
def test_list_sends_filters_and_renders_rows() -> None:
    row = {k: v for k, v in RECORD.items() if k != "attempt_log"}
    route = respx.get(f"{API}/_emulator/deliveries").mock(return_value=httpx.Response(200, json=[row]))
    r = run_cli(remote("deliveries", "list", "--status", "failed", "--connection", "c0ffee", "--limit", "5"))
    assert r.exit_code == 0, r.stderr
    params = dict(route.calls.last.request.url.params)
    assert params == {"status": "failed", "connection": "c0ffee", "limit": "5"}
    lines = r.stdout.splitlines()
    assert lines[0].split("\t") == ["ID", "KIND", "STATUS", "TARGET", "ATTEMPTS", "CREATED", "REASON"]
    assert lines[1].split("\t") == [
        "42",
        "uplink",
        "failed",
        "c0ffee / 0024AEB3C02BE1C4",
        "2",
        "2023-11-14T22:13:20.000Z",
        "strict mode: 4 non-2xx answers",
    ]
    r = run_cli(remote("--json", "deliveries", "list"))
    assert r.json() == {"data": [row]}


def test_list_rejects_an_unknown_status_locally() -> None:
    r = run_cli(remote("deliveries", "list", "--status", "lost"))
    assert r.exit_code == 2 and "lost" in r.stderr


@respx.mock
def test_replay_errors_and_success() -> None:
    respx.post(f"{API}/_emulator/deliveries/9/replay").mock(
        return_value=httpx.Response(
            400, json={"error": {"message": "delivery 9 is delivered: only failed ..."}}
        )
    )
    r = run_cli(remote("deliveries", "replay", "9"))
    assert r.exit_code == 4 and "delivery 9 is delivered" in r.stderr
    respx.post(f"{API}/_emulator/deliveries/9/replay").mock(
        return_value=httpx.Response(200, json={"id": "9", "status": "pending"})
    )
    r = run_cli(remote("--json", "deliveries", "replay", "9"))
    assert r.exit_code == 0 and r.json() == {"data": {"id": "9", "status": "pending"}}


@respx.mock
def test_server_errors_and_timeouts() -> None:
    respx.get(f"{API}/_emulator/deliveries").mock(return_value=httpx.Response(500, text="boom"))
    r = run_cli(remote("deliveries", "list"))
    assert r.exit_code == 5 and "boom" in r.stderr
    respx.get(f"{API}/_emulator/deliveries/1").mock(side_effect=httpx.ConnectTimeout("slow"))
    r = run_cli(remote("deliveries", "show", "1"))
    assert r.exit_code == 6 and "Traceback" not in r.stderr


def test_help_has_examples() -> None:
    for cmd in ("list", "show", "replay"):
        r = run_cli(["deliveries", cmd, "--help"])
        assert r.exit_code == 0 and "Example" in r.stdout, cmd


def test_times_out_of_any_calendar_are_shown_as_given() -> None:
    from iotcli.cli.deliveries import format_ms

    assert format_ms(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"
    assert format_ms(10**30) == str(10**30)  # not a crash: shown as the number it is
    assert format_ms(None) == "-"
