"""CLI faults against real sockets: a server that is down, slow, resets, answers HTML or garbage, dies mid-stream,
and config files that cannot be read. Each: one clear `error:` line (and at most a hint), the contract's exit
code, no traceback. (respx-level cases live in tests/cli/test_exit_codes.py, config ones in tests/test_config.py.)
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from iotcli.config import config_path
from tests.harness import CliResult, EmulatorProcess, Reply, Sink, free_port, run_cli

TOKEN = "t0k3n-for-faults"


def one_error_line(r: CliResult | subprocess.CompletedProcess[str], exit_code: int, *words: str) -> str:
    code = r.exit_code if isinstance(r, CliResult) else r.returncode
    stderr = r.stderr
    assert code == exit_code, (code, stderr)
    assert "Traceback" not in stderr and "Traceback" not in r.stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, stderr
    assert sum(line.startswith("hint:") for line in lines) <= 1, stderr
    for word in words:
        assert word.lower() in errors[0].lower(), (word, errors[0])
    return errors[0]


def devices(server: str, *extra: str) -> CliResult:
    return run_cli(["--server", server, "--token", TOKEN, *extra, "device", "list"])


class RawServer:
    """A TCP server on 127.0.0.1 that answers every connection with ``reply`` bytes (or closes at once)."""

    def __init__(self, reply: bytes | None) -> None:
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                if self.reply is None:
                    # RST instead of FIN: SO_LINGER 0.
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    continue
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(self.reply)
                except OSError:
                    pass

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self.sock.close()


@pytest.fixture
def html_sink() -> Iterator[Sink]:
    page = "<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>"
    with Sink(default=Reply(200, page, headers={"Content-Type": "text/html"})) as s:
        yield s


def test_emulator_down_is_exit_6_naming_the_server() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = one_error_line(devices(url), 6, "cannot reach", url, "connection refused")
    assert "iotcli emulate" in devices(url).stderr  # the hint says how to start one
    assert line


def test_connection_reset_is_exit_6() -> None:
    with RawServer(None) as server:
        one_error_line(devices(server.url), 6, "cannot reach")


def test_garbage_that_is_not_http_is_exit_6() -> None:
    with RawServer(b"SSH-2.0-OpenSSH_9.6\r\n\x00\xff garbage\r\n\r\n") as server:
        one_error_line(devices(server.url), 6, "cannot reach")


def test_html_instead_of_json_is_one_line() -> None:
    with Sink(default=Reply(200, "<!DOCTYPE html><html><body>hi</body></html>")) as s:
        one_error_line(devices(s.url), 4, "not with JSON")
    with Sink(default=Reply(503, "<html><body>Service Unavailable</body></html>")) as s:
        line = one_error_line(devices(s.url), 5, "503", "HTML page")
        assert "<html>" not in line


def test_json_mode_faults_are_json() -> None:
    import json

    r = devices(f"http://127.0.0.1:{free_port()}", "--json")
    assert r.exit_code == 6 and "Traceback" not in r.stderr
    err = json.loads(r.stdout)["error"]
    assert err["message"] and err["code"]


def test_slow_server_times_out_per_profile_timeout() -> None:
    with Sink(default=Reply(200, b"[]", delay=3.0)) as s:
        path = config_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f'active = "slow"\n[profiles.slow]\nserver = "{s.url}"\ntoken = "{TOKEN}"\ntimeout = 0.3\n'
        )
        began = time.monotonic()
        r = run_cli(["device", "list"])
        elapsed = time.monotonic() - began
        one_error_line(r, 6, "no answer in time")
        assert elapsed < 2.5, elapsed  # the profile's 0.3 s, not the 3 s answer


def test_config_that_is_a_directory_is_exit_3() -> None:
    config_path().mkdir(parents=True)
    one_error_line(run_cli(["config", "show"]), 3, str(config_path()))


def test_config_with_binary_garbage_is_exit_3() -> None:
    path = config_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00\xff\xfe[profiles.a]\x81\n")
    one_error_line(run_cli(["device", "list"]), 3, str(path))


def test_config_unreadable_even_for_root_is_exit_3(tmp_path: Path) -> None:
    """chmod 000 does not stop root (tests/test_config.py skips then); a dangling symlink does."""
    path = config_path()
    path.parent.mkdir(parents=True)
    os.symlink(tmp_path / "gone" / "config.toml", path)
    r = run_cli(["--profile", "x", "device", "list"])
    # A config file that does not exist is no config at all; the missing profile is the error.
    one_error_line(r, 3, "x")


def test_event_stream_ends_with_one_line_when_the_emulator_dies(tmp_path: Path) -> None:
    emu = EmulatorProcess(None).start()
    env = {
        **os.environ,
        "IOTCLI_CONFIG_DIR": str(tmp_path / "cfg"),
        "IOTCLI_DATA_DIR": str(tmp_path / "data"),
    }
    follower = subprocess.Popen(
        [sys.executable, "-m", "iotcli", "--server", emu.url, "--token", emu.token, "events", "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        with emu.client() as client:
            # The follower is connected once an event it caused shows up (it prints each one at once).
            assert follower.stdout is not None
            seen = ""
            deadline = time.monotonic() + 20
            while not seen and time.monotonic() < deadline:
                client.post("/_emulator/clock/advance", json={"seconds": 1})
                if select.select([follower.stdout], [], [], 0.2)[0]:
                    seen = os.read(
                        follower.stdout.fileno(), 65536
                    ).decode()  # unbuffered: communicate() reads on
            assert seen, "the follower showed no event"
        emu.kill()
        out, err = follower.communicate(timeout=20)
        out = seen + out
    finally:
        if follower.poll() is None:
            follower.send_signal(signal.SIGINT)
            follower.wait(5)
        emu.kill()
    result = subprocess.CompletedProcess(follower.args, follower.returncode, out, err)
    one_error_line(result, 6)


# --- the emulator's own state ------------------------------------------------------------------------


def test_emulate_with_a_corrupt_database_is_exit_3(tmp_path: Path) -> None:
    (tmp_path / "emulator.db").write_bytes(b"this is not SQLite" * 100)
    r = run_cli(["emulate", "--data-dir", str(tmp_path), "--port", "0", "--token", TOKEN])
    one_error_line(r, 3, "emulator.db", "not a database")


def test_emulate_with_a_file_as_data_dir_is_exit_3(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    r = run_cli(["emulate", "--data-dir", str(tmp_path / "file"), "--port", "0", "--token", TOKEN])
    one_error_line(r, 3, "not a directory")


def test_two_emulators_cannot_share_a_data_dir(tmp_path: Path) -> None:
    """Two would both work the same outbox and send every delivery twice; the second one refuses."""
    state = tmp_path / "state"
    with EmulatorProcess(state):
        r = run_cli(["emulate", "--data-dir", str(state), "--port", "0", "--token", TOKEN])
        one_error_line(r, 1, "in use by another running emulator")
    # Once the first stopped (or died), the data dir is free again.
    with EmulatorProcess(state) as again, again.client() as c:
        assert c.get("/_emulator/health").status_code == 200


@pytest.mark.parametrize(
    ("server", "why"),
    [
        ("http://[::1", "not a valid URL"),
        ("http://127.0.0.1:99999", "not a valid URL"),
        ("http://exa mple.test", "spaces"),
        ("http://", "no host"),
        ("ftp://example.test", "http://"),
    ],
)
def test_a_bad_server_url_is_a_usage_error(server: str, why: str) -> None:
    one_error_line(devices(server), 2, why)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--journal-max-age", "-1d"], "journal-max-age"),
        (["--journal-max-age", "soon"], "not a duration"),
        (["--journal-max-events", "5"], "journal-max-events"),
        (["--max-body", "0"], "max-body"),
        (["--port", "70000"], "port"),
    ],
)
def test_bad_emulate_options_are_usage_errors(args: list[str], why: str) -> None:
    r = run_cli(["emulate", "--in-memory", *args])
    assert r.exit_code == 2, r.stderr
    assert why in r.stderr and "Traceback" not in r.stderr
