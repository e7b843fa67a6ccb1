"""Test harness reused by every test module.

- ``InProcessEmulator``: the emulator app under Starlette's TestClient (lifespan runs, workers run).
- ``run_cli``: the CLI under typer's CliRunner, talking to an in-process emulator through its transport.
- ``EmulatorProcess``: ``iotcli emulate`` as a real process on a free loopback port.
- ``free_port`` (re-exported here) and the health wait come from ``iotcli.testing``, which the benchmarks use too.
- ``Sink``: a local HTTP server that records every request and answers from a script.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient
from typer.testing import CliRunner

from iotcli.emulator.app import create_app
from iotcli.emulator.core import Emulator
from iotcli.emulator.settings import EmulatorSettings
from iotcli.testing import free_port, wait_healthy

TEST_TOKEN = "test-account-token-0123456789"
TEST_USER = "local"
BASE = "http://testserver"


def sigint_default() -> None:
    """``preexec_fn`` for a child that must see Ctrl-C: a shell that runs the tests in the background
    ignores SIGINT, and the child would inherit that; the default disposition makes Python raise
    KeyboardInterrupt in it again. A runner may also block SIGINT (the mask is inherited across exec):
    it is unblocked too."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def interrupt_and_wait(proc: subprocess.Popen[str], timeout: float = 20) -> tuple[str, str]:
    """Ctrl-C ``proc`` and read what it printed. A child that has not stopped after ``timeout`` is
    made to dump its threads' stacks (``PYTHONFAULTHANDLER=1`` in its environment, then SIGABRT):
    the failure then shows where it was stuck and its signal masks, not only that it was slow."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        masks = ""
        with contextlib.suppress(OSError):
            status = Path(f"/proc/{proc.pid}/status").read_text()
            masks = " ".join(line for line in status.splitlines() if line.startswith("Sig"))
        proc.send_signal(signal.SIGABRT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise AssertionError(
            f"still running {timeout:g} s after Ctrl-C ({masks}); stdout:\n{out}\nstderr:\n{err}"
        ) from None


class InProcessEmulator:
    """The emulator app in this process. ``http`` sends with the account token; ``anon`` without."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self.settings = settings
        self.app = create_app(settings)
        self.emu: Emulator = self.app.state.emu
        self.token = settings.token or ""
        self.user = settings.user
        self._client = TestClient(self.app, base_url=BASE, raise_server_exceptions=False)

    def __enter__(self) -> InProcessEmulator:
        self._client.__enter__()
        self.http = self._client
        self.http.headers["Authorization"] = f"Bearer {self.token}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.__exit__(*exc)

    @property
    def transport(self) -> httpx.BaseTransport:
        return self._client._transport

    def anon(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """A request without the account token (pass your own headers)."""
        headers = kwargs.pop("headers", {})
        headers.setdefault("Authorization", "")
        return self._client.request(method, url, headers=headers, **kwargs)

    def advance(self, seconds: float) -> dict[str, Any]:
        r = self.http.post("/_emulator/clock/advance", json={"seconds": seconds})
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    def run(self, coro: Any) -> Any:
        """Run a coroutine on the emulator's event loop (the TestClient portal)."""
        portal = self._client.portal
        assert portal is not None
        return portal.call(lambda: coro)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until the delivery worker has nothing due or in flight."""
        assert self.run(self.emu.worker.idle(timeout)), "delivery worker did not become idle"


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_cli(
    args: Sequence[str],
    *,
    transport: httpx.BaseTransport | None = None,
    input: str | None = None,
    env: dict[str, str] | None = None,
) -> CliResult:
    """Run ``iotcli ARGS`` in-process; with ``transport`` its API calls go to that app.

    The tree is built as ``iotcli`` builds it (``app_for``: only the command's group when it is known).
    """
    from iotcli.cli.app import app_for
    from iotcli.cli.state import Environment

    runner = CliRunner()
    old = Environment.transport
    Environment.transport = transport
    try:
        result = runner.invoke(app_for(args), list(args), input=input, env=env, catch_exceptions=False)
    finally:
        Environment.transport = old
    return CliResult(result.exit_code, result.stdout, result.stderr)


# --- a real `iotcli emulate` process ------------------------------------------------------------


class EmulatorProcess:
    def __init__(
        self,
        data_dir: Path | None,
        *,
        token: str = TEST_TOKEN,
        extra: Sequence[str] = (),
        env: dict[str, str] | None = None,
        tls: bool = False,
    ) -> None:
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.token = token
        self.data_dir = data_dir
        args = [sys.executable, "-m", "iotcli", "emulate", "--port", str(self.port), "--token", token, *extra]
        args += ["--data-dir", str(data_dir)] if data_dir is not None else ["--in-memory"]
        self.env = {**os.environ, **(env or {})}
        #: ``tls=True``: ``emulate --tls``; its CA file (in the data dir, or the default emulator dir).
        self.ca_file: Path | None = None
        if tls:
            args.append("--tls")
            folder = data_dir or Path(self.env["IOTCLI_DATA_DIR"]) / "emulator"
            self.ca_file = folder / "tls" / "ca.pem"
        self.args = args
        self.proc: subprocess.Popen[str] | None = None

    def start(self, timeout: float = 15.0) -> EmulatorProcess:
        self.proc = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            preexec_fn=sigint_default,  # stop(SIGINT) must work even when the test runner ignores SIGINT
        )
        verify = str(self.ca_file) if self.ca_file else True
        try:
            wait_healthy(f"{self.url}/_emulator/health", self.proc, timeout=timeout, verify=verify)
        except RuntimeError:
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise RuntimeError(f"emulator exited with {self.proc.returncode}: {err or out}") from None
            self.kill()
            raise RuntimeError("emulator did not become healthy in time") from None
        return self

    def client(self) -> httpx.Client:
        verify = str(self.ca_file) if self.ca_file else True
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10, verify=verify
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def output(self) -> tuple[str, str]:
        assert self.proc is not None
        out, err = self.proc.communicate(timeout=5)
        return out, err

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()


# --- a local sink that records requests ---------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic()

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict[str, Any] = b""
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class _SinkServer(ThreadingHTTPServer):
    # The default listen backlog (5) resets connections when the emulator delivers on many at once.
    request_queue_size = 128


class Sink:
    """An HTTP server on 127.0.0.1 that records requests and answers from ``script``.

    ``script`` is consumed one Reply per request; once empty, ``default`` answers.
    """

    def __init__(
        self, script: Sequence[Reply | int] = (), default: Reply | int = 200, *, port: int = 0
    ) -> None:
        self.requests: list[Recorded] = []
        self.script: list[Reply] = [r if isinstance(r, Reply) else Reply(r) for r in script]
        self.default = default if isinstance(default, Reply) else Reply(default)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with sink._cond:
                    sink.requests.append(
                        Recorded(
                            self.command,
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.monotonic(),
                        )
                    )
                    reply = sink.script.pop(0) if sink.script else sink.default
                    sink._cond.notify_all()
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body
                if isinstance(payload, dict):
                    payload = json.dumps(payload)
                data = payload.encode() if isinstance(payload, str) else payload
                try:
                    self.send_response(reply.status)
                    ctype = "application/json" if data[:1] in (b"{", b"[") else "text/plain"
                    self.send_header("Content-Type", reply.headers.get("Content-Type", ctype))
                    for k, v in reply.headers.items():
                        if k.lower() != "content-type":
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _SinkServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        # A short poll interval: shutdown() waits for it, once per test that uses a sink.
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self) -> Sink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Recorded]:
        """Block until at least ``count`` requests arrived; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"sink got {len(self.requests)} requests, expected {count}")
                self._cond.wait(left)
            return list(self.requests)


def iter_sse(response: httpx.Response) -> Iterator[dict[str, Any]]:
    """Parse a Server-Sent Events stream into event dicts (data decoded as JSON)."""
    for line in response.iter_lines():
        if line.startswith("data: "):
            yield json.loads(line[6:])
