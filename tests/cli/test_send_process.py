"""`iotcli send-uplink` as a real process: the typer command (one parser), its exit codes, Ctrl-C and
a closed stdout, typed the way users type them."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time

import pytest

from tests.harness import Reply, Sink, interrupt_and_wait, run_cli, sigint_default


def clean_env(**extra: str) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith("IOTCLI_")}
    full.update({"IOTCLI_CONFIG_DIR": "/nonexistent-iotcli", "PYTHONUNBUFFERED": "1", **extra})
    full.setdefault("PYTHONFAULTHANDLER", "1")  # a child stuck after Ctrl-C dumps its stacks on SIGABRT
    return full


def iotcli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iotcli", *args],
        capture_output=True,
        text=True,
        env=clean_env(**(env or {})),
        timeout=60,
    )


def test_a_token_starting_with_a_dash_is_sent(sink: Sink) -> None:
    """A device token can start with '-' (1 in 64 do): it is the value of --token, not an option."""
    r = iotcli("send-uplink", "--device", "d1", "--token", "-tok-1", "a=1", env={"IOTCLI_SERVER": sink.url})
    assert r.returncode == 0, r.stderr
    assert [req.headers["authorization"] for req in sink.wait_for(1)] == ["Bearer -tok-1"]


def test_sends_and_shows_the_answer_with_global_options_after_the_command(sink: Sink) -> None:
    sink.default = Reply(200, {"led": True})
    r = iotcli(
        "send-uplink", "--device", "d1", "temp:=21.5", "X-Site:A", "--server", sink.url, "--user", "acme",
        env={"IOTCLI_TOKEN": "tok-123"},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"led": True}
    (req,) = sink.wait_for(1)
    assert req.path == "/v3/users/acme/devices/d1/callback/data"
    assert req.headers["authorization"] == "Bearer tok-123" and req.headers["x-site"] == "A"


def test_no_httpx_pydantic_or_http_client_on_a_single_send(sink: Sink) -> None:
    probe = (
        "import sys, runpy; sys.argv = ['iotcli', 'send-uplink', '--url', sys.argv[1], 'a=1']\n"
        "try:\n    runpy.run_module('iotcli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print('httpx' in sys.modules, 'pydantic' in sys.modules, 'http.client' in sys.modules, file=sys.stderr)"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe, sink.url], capture_output=True, text=True, env=clean_env(), timeout=60
    )
    assert r.stderr.strip().endswith("False False False"), r.stderr  # one plain-http send: a socket
    assert sink.wait_for(1)[0].body == b'{"a":"1"}'


def test_a_single_send_creates_no_dataclass_of_its_own_nor_imports_the_runner_or_socket(sink: Sink) -> None:
    """Start-up (issue 17): ``@dataclass`` compiles generated methods at import (0.2-0.7 ms a class), so
    the classes a single send creates are plain ones; only the option bundle (``bundles.takes`` reads its
    fields) and ``models.render.Prepared`` are dataclasses. Neither ``--repeat``'s runner nor ``socket.py``
    (its enums cost ~2 ms; the transport connects with ``_socket``) is imported."""
    probe = (
        "import sys, runpy; sys.argv = ['iotcli', 'send-uplink', '--url', sys.argv[1], 't:=1', 'n=x']\n"
        "try:\n    runpy.run_module('iotcli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "found = sorted(f'{m}.{n}' for m, mod in list(sys.modules.items()) if m.startswith('iotcli')"
        " for n, v in vars(mod).items() if isinstance(v, type) and v.__module__ == m and '__dataclass_fields__' in vars(v))\n"
        "print('DATACLASSES', found, [m for m in ('iotcli.sending.runner', 'socket') if m in sys.modules], file=sys.stderr)"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe, sink.url], capture_output=True, text=True, env=clean_env(), timeout=60
    )
    line = r.stderr.rsplit("DATACLASSES", 1)[-1].strip()
    assert line == "['iotcli.cli.send_options.SendOptions', 'iotcli.models.render.Prepared'] []", r.stderr
    assert sink.wait_for(1)[0].body == b'{"t":1,"n":"x"}'


def test_the_cli_process_freezes_what_start_up_made(sink: Sink) -> None:
    """``iotcli`` (its ``main``) makes the start-up's objects (modules, classes, the typer tree) without
    collecting and freezes them before the command runs: no collection walks them again, nor does the
    teardown at exit (issue 17: a fifth of a single send-uplink); the command runs with the collector
    on. The tests' in-process runs freeze nothing."""
    probe = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('FROZEN', gc.isenabled(), gc.get_freeze_count(), file=sys.stderr))\n"
        "sys.argv = ['iotcli', 'send-uplink', '--url', sys.argv[1], 'a=1']\n"
        "from iotcli.cli import main\nmain()\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe, sink.url], capture_output=True, text=True, env=clean_env(), timeout=60
    )
    assert r.returncode == 0, r.stderr
    enabled, frozen = r.stderr.rsplit("FROZEN", 1)[-1].split()
    assert enabled == "True" and int(frozen) > 5000, r.stderr  # collected as usual after start-up
    assert sink.wait_for(1)[0].body == b'{"a":"1"}'
    before = gc.get_freeze_count()
    assert run_cli(["send-uplink", "--url", sink.url, "a=2"]).exit_code == 0
    assert gc.get_freeze_count() == before


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--repeat", "0"], "--repeat"),
        (["--bogus"], "--bogus"),
        (["--fport", "x"], "--fport"),
        (["temp"], "item 'temp'"),
        (["--concurrency", "1000"], "--concurrency"),
    ],
)
def test_usage_errors(sink: Sink, args: list[str], needle: str) -> None:
    r = iotcli("send-uplink", "--url", sink.url, *args)
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_exit_codes_and_json() -> None:
    with Sink(script=[404, 500], default=200) as s:
        assert iotcli("send-uplink", "--url", s.url, "a=1").returncode == 4
        assert iotcli("send-uplink", "--url", s.url, "a=1").returncode == 5
        r = iotcli("send-uplink", "--url", s.url, "a=1", "--repeat", "3", "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["data"]["ok"] == 3
    r = iotcli("send-uplink", "--url", "http://127.0.0.1:1/x", "a=1", "--json")
    assert r.returncode == 6 and json.loads(r.stdout)["error"]["code"] == "network" and r.stderr == ""


def test_ctrl_c_stops_a_repeat_and_prints_what_was_sent(sink: Sink) -> None:
    cmd = [sys.executable, "-m", "iotcli", "send-uplink", "--url", sink.url, "a=1", "--repeat", "1000", "--rate", "20"]  # fmt: skip
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        preexec_fn=sigint_default,
    )
    try:
        sink.wait_for(5)
        time.sleep(0.1)
        out, _err = interrupt_and_wait(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    sent = int(out.split()[1])
    assert 5 <= sent < 1000 and "(interrupted)" in out
    assert sent <= len(sink.requests) <= sent + 1  # one may have been in flight, its answer never read


@pytest.mark.parametrize(
    ("args", "code"),
    [(["--dry-run"], 0), (["--dry-run", "--json"], 0), (["--json"], 6)],
)
def test_a_closed_stdout_ends_quietly(args: list[str], code: int) -> None:
    """`iotcli send-uplink ... | true`: stop quietly (0), or with the failure's exit code; never 'a bug'."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "iotcli", "send-uplink", "--url", "http://127.0.0.1:1/x", "a=1", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=clean_env(),
        )
    finally:
        os.close(write_end)
    _out, err = proc.communicate(timeout=60)
    assert (proc.returncode, err) == (code, "")


def test_ctrl_c_on_a_single_send_under_json_prints_one_line(sink: Sink) -> None:
    """Ctrl-C while waiting for the answer: 130 and, with --json, one JSON line on stdout."""
    sink.default = Reply(200, delay=3)
    proc = subprocess.Popen(
        [sys.executable, "-m", "iotcli", "send-uplink", "--url", sink.url, "a=1", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
        preexec_fn=sigint_default,
    )
    try:
        sink.wait_for(1)  # the request is out: the command waits for the answer
        out, err = interrupt_and_wait(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and err == ""
    assert out.count("\n") == 1 and json.loads(out)["error"]["code"] == "interrupted"
