"""Test helpers: a real emulator in a thread of this process, and the pytest plugin ``iotcli``.

``Emulator`` is a context manager (like moto's ThreadedMotoServer): an in-memory emulator served by
uvicorn on a free loopback port, driven through ``ApiClient``. The pytest plugin (entry point
``pytest11`` ``iotcli``) gives the ``iot_emulator`` fixture: one server per session, reset between tests.
Heavy imports (uvicorn, the emulator) happen only when an emulator starts, so loading the plugin is cheap.
``free_port`` and ``wait_healthy`` serve the test suite and the benchmarks alike (one copy each).
"""

from __future__ import annotations

import secrets
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from iotcli.client.api import ApiClient
    from iotcli.waiting import Condition, Observation

try:  # the fixture is only defined when pytest is there; the library works without it
    import pytest
except ImportError:  # pragma: no cover
    pytest = None  # type: ignore[assignment]


def free_port() -> int:
    """A loopback TCP port that is free right now (the OS picks it; it is released before returning)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(
    url: str, proc: subprocess.Popen[Any] | None = None, *, timeout: float = 20.0, verify: bool | str = True
) -> None:
    """Wait until ``GET url`` answers 200 (an emulator's ``/_emulator/health``, a server started for a
    benchmark). ``proc``: the process serving it; RuntimeError as soon as it exits. ``verify``: a CA
    file to trust (HTTPS), waited for while the server is still making it. RuntimeError on timeout."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        if isinstance(verify, str) and not Path(verify).exists():
            time.sleep(0.05)  # --tls: the certificate is being made
            continue
        try:
            if httpx.get(url, timeout=0.5, verify=verify).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer in time")


class SinkHandle:
    """A sink created on the emulator; ``requests`` reads what it recorded (oldest first)."""

    def __init__(self, emulator: Emulator, name: str, info: dict[str, Any]) -> None:
        self.emulator, self.name, self.info = emulator, name, info
        self.url: str = str(info.get("url", ""))

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.emulator.client.sink_requests(self.name)

    def clear(self) -> None:
        self.emulator.client.call("DELETE", f"/_emulator/sinks/{self.name}/requests")


class Emulator:
    """A real emulator on a free loopback port in a thread of this process, with in-memory state."""

    def __init__(
        self,
        *,
        user: str = "local",
        token: str | None = None,
        time_scale: float = 1.0,
        tls: bool = False,
        tls_dir: str | Path | None = None,
        request_timeout: float = 30.0,
    ) -> None:
        """``tls``: serve HTTPS with a local CA (made in ``tls_dir``, else a temporary folder removed on
        stop); ``.ca_file`` is the CA to trust and ``.client`` trusts it. ``request_timeout``: the slow-client
        guard of ``iotcli emulate`` (a request must arrive whole within that many seconds)."""
        self.user = user
        self.token = token or "test-" + secrets.token_hex(16)
        self.time_scale = time_scale
        self.tls = tls
        self.request_timeout = request_timeout
        self.url = ""
        self.ca_file: Path | None = None
        self._tls_dir = Path(tls_dir) if tls_dir is not None else None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._server: Any = None
        self._emu: Any = None
        self._thread: threading.Thread | None = None
        self._client: ApiClient | None = None

    # -- life cycle ---------------------------------------------------------------------------
    def start(self, timeout: float = 15.0) -> Emulator:
        import uvicorn

        from iotcli.emulator.app import create_app
        from iotcli.emulator.server import bind_socket, protocol_options
        from iotcli.emulator.settings import EmulatorSettings

        tls_files = None
        if self.tls:
            from iotcli.emulator.tls import ensure_certificates

            if self._tls_dir is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="iotcli-tls-")
                self._tls_dir = Path(self._tmp.name)
            tls_files = ensure_certificates(self._tls_dir, "127.0.0.1")
            self.ca_file = tls_files.ca_file
        sock = bind_socket("127.0.0.1", 0)
        port = int(sock.getsockname()[1])
        self.url = f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"
        settings = EmulatorSettings(
            port=port,
            user=self.user,
            token=self.token,
            time_scale=self.time_scale,
            public_url=self.url,
            tls=tls_files,
            request_timeout=self.request_timeout,
        )
        app = create_app(settings)
        self._emu = app.state.emu
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="on",
            server_header=False,
            # As `iotcli emulate`: slow or endless clients cannot hold a connection (issue 11).
            **protocol_options(settings),
            timeout_graceful_shutdown=10,
            ssl_certfile=str(tls_files.cert_file) if tls_files is not None else None,
            ssl_keyfile=str(tls_files.key_file) if tls_files is not None else None,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        end = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > end:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._emu is not None:
            self._emu.begin_shutdown()  # event streams end now, so the server's drain is not held up
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(15)
        if self._client is not None:
            self._client.http.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self._tls_dir = None
        self._server = self._thread = self._client = self._emu = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers ------------------------------------------------------------------------------
    @property
    def client(self) -> ApiClient:
        """An ``ApiClient`` with the account token."""
        if self._client is None:
            import httpx

            from iotcli.client.api import ApiClient

            verify: Any = True
            if self.ca_file is not None:
                import ssl

                verify = ssl.create_default_context(cafile=str(self.ca_file))
            self._client = ApiClient(
                httpx.Client(base_url=self.url, timeout=30, verify=verify), user=self.user, token=self.token
            )
        return self._client

    def reset(self) -> None:
        """Forget all state (devices, buckets, connections, sinks, journals); the token stays."""
        self.client.reset()

    def sink(self, name: str, respond: Sequence[int] | None = None, **script: Any) -> SinkHandle:
        """Create a sink (``respond``: the status sequence; other keys as in ``POST /_emulator/sinks``)."""
        if respond is not None:
            script["respond"] = list(respond)
        return SinkHandle(self, name, self.client.create_sink(name, script))

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the emulator clock forward (timers and retries due by then fire)."""
        return self.client.advance_clock(seconds)

    def send_uplink(self, device: str, data: Any, *, token: str | None = None) -> Any:
        """Send one payload to an HTTP device's callback, as the device would."""
        return self.client.send_callback_data(device, data, token=token)

    def lorawan_uplink(self, deveui: str, fport: int, payload_hex: str = "", **fields: Any) -> dict[str, Any]:
        """A LoRaWAN uplink the emulator completes and forwards to the connections."""
        body: dict[str, Any] = {"DevEUI": deveui, "FPort": fport, **fields}
        if payload_hex:
            body["payload_hex"] = payload_hex
        return self.client.send_lorawan_uplink(body)

    def wait(self, condition: Condition, *, timeout: float = 10.0, clock: str = "wall") -> Observation:
        """Wait for an ``iotcli.waiting`` condition; raises on timeout as ``iotcli wait`` does."""
        from iotcli.waiting import wait_for

        return wait_for(self.client, condition, timeout=timeout, clock=clock)


if pytest is not None:

    @pytest.fixture(scope="session")
    def _iot_emulator_server() -> Iterator[Emulator]:
        with Emulator() as emu:
            yield emu

    @pytest.fixture
    def iot_emulator(_iot_emulator_server: Emulator) -> Iterator[Emulator]:
        """A real emulator on loopback (one per session), reset before each test."""
        _iot_emulator_server.reset()
        yield _iot_emulator_server
