"""The fast path of `iotcli send-uplink` (send_fast.py): same options as the typer command, same behaviour."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import typer.main

from iotcli.cli import send_fast
from iotcli.cli.app import app
from iotcli.cli.send import SendOptions
from tests.harness import Reply, Sink

KINDS = {str: "str", int: "int", float: "float"}


def typer_params() -> dict[str, object]:
    cmd = typer.main.get_command(app).commands["send-uplink"]  # type: ignore[attr-defined]
    return {p.name: p for p in cmd.params}


def test_fast_parser_accepts_exactly_the_typer_commands_options() -> None:
    params = typer_params()
    fast = {dest: (flags, kind) for flags, dest, kind in send_fast.OPTIONS}
    assert set(params) - {"items"} == set(fast)
    assert set(SendOptions.FIELDS) == set(params)
    for name, p in params.items():
        if name == "items":
            continue
        flags, kind = fast[name]
        assert tuple(p.opts) == flags, name  # type: ignore[attr-defined]
        info = p.type_descriptor.parameter_info  # type: ignore[attr-defined]
        if p.count:  # type: ignore[attr-defined]
            assert kind == "count", name
        elif p.is_flag:  # type: ignore[attr-defined]
            assert kind == "flag", name
        elif p.multiple:  # type: ignore[attr-defined]
            assert kind == "append", name
        else:
            assert kind == KINDS[p.type_descriptor.annotation], name  # type: ignore[attr-defined]
        bounds = send_fast.BOUNDS.get(name, (None, None))
        assert (info.min, info.max) == bounds, name


def test_defaults_match() -> None:
    params = typer_params()
    for name, p in params.items():
        default = p.default  # type: ignore[attr-defined]
        ours = getattr(SendOptions(), name)
        assert (
            ours == default or (ours is None and default in (None, ())) or (name == "verbose" and ours == 0)
        ), name


def test_parse_intermixed_items_and_options() -> None:
    values = send_fast.parse(
        ["--device", "d1", "temp:=21.5", "-H", "X: y", "name=k", "-vv", "-c", "a", "-c", "b", "-"]
    )
    assert values["items"] == ["temp:=21.5", "name=k", "-"]
    assert values["header"] == ["X: y"] and values["connection"] == ["a", "b"] and values["verbose"] == 2


def test_option_values_may_start_with_a_dash() -> None:
    """As in the typer command (click): a device token can start with '-' (1 in 64 do)."""
    values = send_fast.parse(["--device", "d1", "--token", "-Xk9", "-H", "-odd", "a=1", "--", "-b=2"])
    assert values["token"] == "-Xk9" and values["header"] == ["-odd"]
    assert values["items"] == ["a=1", "-b=2"]


def test_a_token_starting_with_a_dash_is_sent_by_both_paths(sink: Sink) -> None:
    env = {"IOTCLI_SERVER": sink.url, "IOTCLI_CONFIG_DIR": "/nonexistent-iotcli"}
    for extra in ({}, {"IOTCLI_NO_FAST_PATH": "1"}):
        r = iotcli("send-uplink", "--device", "d1", "--token", "-tok-1", "a=1", env={**env, **extra})
        assert r.returncode == 0, r.stderr
    assert [req.headers["authorization"] for req in sink.wait_for(2)] == ["Bearer -tok-1"] * 2


def test_should_take() -> None:
    assert send_fast.should_take(["send-uplink", "--device", "d1"])
    assert not send_fast.should_take(["send-uplink", "--device", "d1", "--help"])
    assert not send_fast.should_take(["send-uplink"])  # no arguments: typer shows the help
    assert not send_fast.should_take(["--json", "send-uplink", "--url", "x"])


def iotcli(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("IOTCLI_")}
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "iotcli", *args],
        capture_output=True,
        text=True,
        env=full,
        input=stdin,
        timeout=60,
    )


def test_fast_path_sends_and_shows_like_the_typer_command(sink: Sink) -> None:
    sink.default = Reply(200, {"led": True})
    env = {"IOTCLI_SERVER": sink.url, "IOTCLI_TOKEN": "tok-123", "IOTCLI_CONFIG_DIR": "/nonexistent-iotcli"}
    fast = iotcli("send-uplink", "--device", "d1", "temp:=21.5", "X-Site:A", env=env)
    slow = iotcli(
        "send-uplink", "--device", "d1", "temp:=21.5", "X-Site:A", env={**env, "IOTCLI_NO_FAST_PATH": "1"}
    )
    assert fast.returncode == slow.returncode == 0, fast.stderr + slow.stderr
    assert fast.stdout == slow.stdout and json.loads(fast.stdout) == {"led": True}
    a, b = sink.wait_for(2)
    assert a.path == b.path == "/v3/users/local/devices/d1/callback/data"
    assert a.headers["authorization"] == b.headers["authorization"] == "Bearer tok-123"
    assert a.headers["x-site"] == "A" and a.body == b.body
    for args in (["--dry-run", "-v"], ["--print", "curl"]):
        f = iotcli("send-uplink", "--device", "d1", "temp:=21.5", *args, env=env)
        s = iotcli(
            "send-uplink", "--device", "d1", "temp:=21.5", *args, env={**env, "IOTCLI_NO_FAST_PATH": "1"}
        )
        assert (f.returncode, f.stdout) == (s.returncode, s.stdout), args


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["--repeat", "0"], 2, "--repeat"),
        (["--bogus"], 2, "--bogus"),
        (["--fport", "x"], 2, "--fport"),
        (["temp"], 2, "item 'temp'"),
        (["--concurrency", "1000"], 2, "--concurrency"),
    ],
)
def test_fast_path_usage_errors(sink: Sink, args: list[str], code: int, needle: str) -> None:
    r = iotcli("send-uplink", "--url", sink.url, *args)
    assert r.returncode == code and needle in r.stderr and "Traceback" not in r.stderr


def test_fast_path_exit_codes_and_json() -> None:
    with Sink(script=[404, 500], default=200) as s:
        assert iotcli("send-uplink", "--url", s.url, "a=1").returncode == 4
        assert iotcli("send-uplink", "--url", s.url, "a=1").returncode == 5
        r = iotcli("send-uplink", "--url", s.url, "a=1", "--repeat", "3", "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["data"]["ok"] == 3
    r = iotcli("send-uplink", "--url", "http://127.0.0.1:1/x", "a=1", "--json")
    assert r.returncode == 6 and json.loads(r.stdout)["error"]["code"] == "network"


def test_ctrl_c_stops_a_repeat_and_prints_what_was_sent(sink: Sink) -> None:
    import signal
    import time

    full = {k: v for k, v in os.environ.items() if not k.startswith("IOTCLI_")}
    cmd = [
        sys.executable,
        "-m",
        "iotcli",
        "send-uplink",
        "--url",
        sink.url,
        "a=1",
        "--repeat",
        "1000",
        "--rate",
        "20",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full)
    sink.wait_for(5)
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, _err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    sent = int(out.split()[1])
    assert 5 <= sent < 1000 and "(interrupted)" in out
    assert sent <= len(sink.requests) <= sent + 1  # one may have been in flight, its answer never read


def both_paths(
    *args: str, env: dict[str, str] | None = None, closed_stdout: bool = False
) -> list[tuple[int, str, str]]:
    """(exit code, stdout, stderr) of the fast path, then of the typer path (IOTCLI_NO_FAST_PATH)."""
    results = []
    for extra in ({}, {"IOTCLI_NO_FAST_PATH": "1"}):
        full = {k: v for k, v in os.environ.items() if not k.startswith("IOTCLI_")}
        full.update(
            {"IOTCLI_CONFIG_DIR": "/nonexistent-iotcli", "PYTHONUNBUFFERED": "1", **(env or {}), **extra}
        )
        if not closed_stdout:
            r = subprocess.run(
                [sys.executable, "-m", "iotcli", *args], capture_output=True, text=True, env=full, timeout=60
            )
            results.append((r.returncode, r.stdout, r.stderr))
            continue
        read_end, write_end = os.pipe()
        os.close(read_end)  # the reader is gone before the first write (`iotcli ... | true`)
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "iotcli", *args],
                stdout=write_end,
                stderr=subprocess.PIPE,
                text=True,
                env=full,
            )
        finally:
            os.close(write_end)
        _out, err = proc.communicate(timeout=60)
        results.append((proc.returncode, "", err))
    return results


@pytest.mark.parametrize(
    ("args", "code"),
    [(["--dry-run"], 0), (["--dry-run", "--json"], 0), (["--json"], 6)],
)
def test_a_closed_stdout_ends_both_paths_alike(args: list[str], code: int) -> None:
    """`iotcli send-uplink ... | true`: stop quietly (0), or with the failure's exit code; never 'a bug'."""
    fast, slow = both_paths("send-uplink", "--url", "http://127.0.0.1:1/x", "a=1", *args, closed_stdout=True)
    assert fast == slow == (code, "", ""), (fast, slow)


def test_json_errors_are_the_same_on_both_paths() -> None:
    fast, slow = both_paths("send-uplink", "--url", "http://127.0.0.1:1/x", "a=1", "--json")
    assert fast == slow, (fast, slow)
    assert fast[0] == 6 and json.loads(fast[1])["error"]["code"] == "network" and fast[2] == ""


def test_ctrl_c_on_a_single_send_reports_alike_on_both_paths(sink: Sink) -> None:
    """Ctrl-C while waiting for the answer: 130 and, with --json, the error as JSON on stdout."""
    import signal

    sink.default = Reply(200, delay=3)
    results = []
    for n, extra in enumerate(({}, {"IOTCLI_NO_FAST_PATH": "1"}), start=1):
        full = {k: v for k, v in os.environ.items() if not k.startswith("IOTCLI_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "iotcli", "send-uplink", "--url", sink.url, "a=1", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**full, **extra},
        )
        try:
            sink.wait_for(n)  # the request is out: the command waits for the answer
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        results.append((proc.returncode, out, err))
    fast, slow = results
    assert fast == slow, (fast, slow)
    assert fast[0] == 130 and json.loads(fast[1])["error"]["code"] == "interrupted" and fast[2] == ""
