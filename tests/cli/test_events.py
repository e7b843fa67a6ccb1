"""``iotcli events [--follow]``: the journal listed, and streamed live over Server-Sent Events."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from iotcli.client.iotflow import parse_sse
from iotcli.errors import ApiError
from tests.conftest import Cli
from tests.harness import (
    TEST_TOKEN,
    CliResult,
    EmulatorProcess,
    InProcessEmulator,
    interrupt_and_wait,
    run_cli,
    sigint_default,
)

# -- the SSE parser ---------------------------------------------------------------------------------


def test_parse_sse_events_comments_and_multiline_data() -> None:
    lines = [
        ": following",
        "",
        "id: 7",
        "event: clock.advanced",
        'data: {"id": 7, "kind": "clock.advanced", "seconds": 5}',
        "",
        ": keep-alive",
        "",
        "id: 8",
        "event: emulator.reset",
        'data: {"ts": 1,',
        'data:  "x": 2}',
        "",
        'data: {"id": 9, "kind": "last"}',  # no blank line at the end of the stream
    ]
    assert list(parse_sse(iter(lines))) == [
        {"id": 7, "kind": "clock.advanced", "seconds": 5},
        {"ts": 1, "x": 2, "id": 8, "kind": "emulator.reset"},  # id/kind from the SSE fields
        {"id": 9, "kind": "last"},
    ]


def test_parse_sse_rejects_non_json_data() -> None:
    with pytest.raises(ApiError, match="not JSON"):
        list(parse_sse(iter(["data: hello", ""])))


# -- listing against the in-process emulator ----------------------------------------------------------


def test_events_list_table_json_kind_and_after(cli: Cli, emulator: InProcessEmulator) -> None:
    emulator.advance(60)
    emulator.advance(5)
    r = cli("events")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split("\t") == ["ID", "TIME", "KIND", "DETAILS"]
    kinds = [line.split("\t")[2] for line in lines[1:]]
    assert kinds[-2:] == ["clock.advanced", "clock.advanced"]
    assert "seconds=60" in lines[-2] and lines[-2].split("\t")[1].endswith("Z")

    data = cli("--json", "events", "--kind", "clock").json()["data"]
    assert [e["seconds"] for e in data] == [60, 5] and all(e["kind"] == "clock.advanced" for e in data)
    first = data[0]["id"]
    after = cli("--json", "events", "--after", str(first)).json()["data"]
    assert [e["seconds"] for e in after] == [5]
    last = cli("--json", "events", "--limit", "1").json()["data"]
    assert [e["id"] for e in last] == [data[1]["id"]]


def test_count_without_follow_is_a_usage_error(cli: Cli) -> None:
    r = cli("events", "--count", "3")
    assert r.exit_code == 2 and "--count goes with --follow" in r.stderr


def test_help_has_examples() -> None:
    r = run_cli(["events", "--help"])
    assert r.exit_code == 0 and "Example" in r.stdout and "--follow" in r.stdout


# -- following: a mocked stream --------------------------------------------------------------------------
API = "http://api.test"
STREAM = (
    ": following\n\n"
    'id: 1\nevent: connection.created\ndata: {"id": 1, "ts": 0, "kind": "connection.created", "name": "a"}\n\n'
    ": keep-alive\n\n"
    'id: 2\nevent: clock.advanced\ndata: {"id": 2, "ts": 1000, "kind": "clock.advanced", "seconds": 1}\n\n'
    'id: 3\nevent: clock.advanced\ndata: {"id": 3, "ts": 2000, "kind": "clock.advanced", "seconds": 2}\n\n'
)


def remote(*args: str) -> list[str]:
    return ["--server", API, "--token", "t0k3n", *args]


@respx.mock
def test_follow_prints_one_line_per_event_and_stops_after_count() -> None:
    route = respx.get(f"{API}/_emulator/events").mock(
        return_value=httpx.Response(200, text=STREAM, headers={"content-type": "text/event-stream"})
    )
    r = run_cli(remote("events", "--follow", "--count", "2", "--kind", "clock", "--after", "0"))
    assert r.exit_code == 0, r.stderr
    assert r.stdout.splitlines() == [
        "1970-01-01T00:00:00.000Z  #1  connection.created  name=a",
        "1970-01-01T00:00:01.000Z  #2  clock.advanced  seconds=1",
    ]
    params = route.calls.last.request.url.params
    assert params["follow"] == "1" and params["kind"] == "clock" and params["after"] == "0"
    assert route.calls.last.request.headers["accept"] == "text/event-stream"


@respx.mock
def test_follow_json_is_one_object_per_line() -> None:
    respx.get(f"{API}/_emulator/events").mock(return_value=httpx.Response(200, text=STREAM))
    r = run_cli(remote("--json", "events", "--follow", "--count", "3"))
    assert r.exit_code == 0, r.stderr
    objects = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["id"] for o in objects] == [1, 2, 3] and objects[2]["seconds"] == 2
    assert r.stderr == ""  # no "following ..." note in --json mode


@respx.mock
@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        (": end: the emulator is stopping\n\n", "the event stream ended: the emulator is stopping"),
        ("", "the event stream ended: the server closed it"),
    ],
)
def test_a_stream_the_server_ends_says_why_and_exits_6(tail: str, reason: str) -> None:
    respx.get(f"{API}/_emulator/events").mock(return_value=httpx.Response(200, text=STREAM + tail))
    r = run_cli(remote("events", "--follow"))
    assert r.exit_code == 6
    assert len(r.stdout.splitlines()) == 3  # every event came out first
    assert reason in r.stderr and "Traceback" not in r.stderr
    assert "follow again with --after 3 " in r.stderr  # the last event's id
    r = run_cli(remote("--json", "events", "--follow"))
    lines = r.stdout.splitlines()
    assert r.exit_code == 6 and len(lines) == 4  # the error is one more JSON line
    assert json.loads(lines[-1])["error"]["code"] == "stream_ended"


@respx.mock
@pytest.mark.parametrize(("status", "exit_code"), [(401, 4), (403, 4), (500, 5)])
def test_follow_errors(status: int, exit_code: int) -> None:
    respx.get(f"{API}/_emulator/events").mock(
        return_value=httpx.Response(status, json={"error": {"message": f"nope {status}"}})
    )
    r = run_cli(remote("events", "--follow"))
    assert r.exit_code == exit_code and f"nope {status}" in r.stderr and "Traceback" not in r.stderr


@respx.mock
def test_follow_network_errors() -> None:
    respx.get(f"{API}/_emulator/events").mock(
        side_effect=httpx.ConnectError("[Errno 111] Connection refused")
    )
    r = run_cli(remote("events", "--follow"))
    assert r.exit_code == 6 and "connection refused" in r.stderr
    respx.get(f"{API}/_emulator/events").mock(side_effect=httpx.ReadTimeout("silent"))
    r = run_cli(remote("events", "--follow"))
    assert r.exit_code == 6 and "went silent" in r.stderr


def test_ctrl_c_while_following_is_exit_130_without_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from iotcli.client.api import ApiClient

    def follow(self: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        yield {"id": 1, "ts": 0, "kind": "x"}
        raise KeyboardInterrupt

    monkeypatch.setattr(ApiClient, "follow_events", follow)
    r = run_cli(remote("events", "--follow"))
    assert r.exit_code == 130
    assert r.stdout.splitlines() == ["1970-01-01T00:00:00.000Z  #1  x"]
    assert "interrupted" in r.stderr and "Traceback" not in r.stderr


# -- following a real emulator ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def process() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(None) as proc:
        yield proc


def real(proc: EmulatorProcess, *args: str) -> CliResult:
    return run_cli(["--server", proc.url, "--token", TEST_TOKEN, *args])


def last_id(proc: EmulatorProcess) -> int:
    with proc.client() as http:
        events = http.get("/_emulator/events", params={"limit": 1}).json()
    return int(events[-1]["id"]) if events else 0


def test_follow_replays_after_then_stops_at_count(process: EmulatorProcess) -> None:
    start = last_id(process)
    with process.client() as http:
        for seconds in (1, 2, 3):
            assert http.post("/_emulator/clock/advance", json={"seconds": seconds}).status_code == 200
    r = real(
        process, "--json", "events", "--follow", "--after", str(start), "--count", "3", "--kind", "clock"
    )
    assert r.exit_code == 0, r.stderr
    events = [json.loads(line) for line in r.stdout.splitlines()]
    assert [e["seconds"] for e in events] == [1, 2, 3]
    assert all(e["kind"] == "clock.advanced" and e["id"] > start for e in events)


def test_follow_streams_live_events(process: EmulatorProcess) -> None:
    start = last_id(process)
    result: list[CliResult] = []
    follower = threading.Thread(
        target=lambda: result.append(
            real(process, "--json", "events", "--follow", "--after", str(start), "--count", "2")
        )
    )
    follower.start()
    with process.client() as http:
        http.post("/_emulator/clock/advance", json={"seconds": 7})
        http.post("/_emulator/clock/advance", json={"seconds": 8})
    follower.join(15)
    assert not follower.is_alive() and result[0].exit_code == 0, result
    events = [json.loads(line) for line in result[0].stdout.splitlines()]
    assert [(e["kind"], e["seconds"]) for e in events] == [("clock.advanced", 7), ("clock.advanced", 8)]


@contextlib.contextmanager
def streaming_follower(
    emulator: EmulatorProcess, after: int, seconds: int
) -> Iterator[subprocess.Popen[str]]:
    """A real ``iotcli events --follow --after AFTER`` process, yielded once a clock advance of
    ``seconds`` reached it (it is streaming); killed on the way out if still running."""
    env = {**os.environ, "IOTCLI_SERVER": emulator.url, "IOTCLI_TOKEN": TEST_TOKEN, "PYTHONFAULTHANDLER": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "iotcli", "events", "--follow", "--after", str(after)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=sigint_default,  # Ctrl-C must reach it even when the test runner ignores SIGINT
    )
    try:
        with emulator.client() as http:
            http.post("/_emulator/clock/advance", json={"seconds": seconds})
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "clock.advanced" in line and f"seconds={seconds}" in line
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_ctrl_c_on_a_real_follower_process(process: EmulatorProcess) -> None:
    with streaming_follower(process, last_id(process), 11) as proc:
        _out, err = interrupt_and_wait(proc, timeout=10)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err


def test_follow_survives_events_whose_data_has_an_id(process: EmulatorProcess) -> None:
    """Surface data may carry its own 'id' (an uplink's): the journal's integer id still orders the stream."""
    start = last_id(process)
    result: list[CliResult] = []
    follower = threading.Thread(
        target=lambda: result.append(
            real(process, "--json", "events", "--follow", "--after", str(start), "--count", "3")
        )
    )
    follower.start()
    with process.client() as http:
        http.post("/_emulator/clock/advance", json={"seconds": 1})
        r = http.post(
            "/_emulator/lorawan/uplinks", json={"DevEUI": "0018B20000000B20", "FPort": 1, "payload_hex": "01"}
        )
        assert r.status_code == 202, r.text
        http.post("/_emulator/clock/advance", json={"seconds": 2})
    follower.join(15)
    assert not follower.is_alive() and result[0].exit_code == 0, result
    events = [json.loads(line) for line in result[0].stdout.splitlines()]
    assert [e["kind"] for e in events] == ["clock.advanced", "uplink.received", "clock.advanced"]
    ids = [e["id"] for e in events]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(ids) and ids[0] > start


def test_a_reader_that_goes_away_ends_the_follower_quietly(process: EmulatorProcess) -> None:
    """`iotcli events --follow | head -1`: once head exits, the follower stops without an error."""
    start = last_id(process)
    with process.client() as http:
        http.post("/_emulator/clock/advance", json={"seconds": 1})
    env = {**os.environ, "IOTCLI_SERVER": process.url, "IOTCLI_TOKEN": TEST_TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "iotcli", "--json", "events", "--follow", "--after", str(start)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["seconds"] == 1
        proc.stdout.close()  # the reader is gone
        with process.client() as http:
            for _ in range(3):  # the next writes hit the closed pipe
                http.post("/_emulator/clock/advance", json={"seconds": 1})
        proc.wait(timeout=10)
        err = proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "error" not in err and "Traceback" not in err


def test_stopping_the_emulator_ends_a_follower_with_the_reason() -> None:
    with EmulatorProcess(None) as emulator, streaming_follower(emulator, 0, 3) as follower:
        assert emulator.stop() == 0
        _out, err = follower.communicate(timeout=15)
    assert follower.returncode == 6, err
    assert "the event stream ended: the emulator is stopping" in err and "Traceback" not in err
