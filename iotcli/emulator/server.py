"""Running the emulator under uvicorn on a socket we bind ourselves.

Binding first gives a clear error for a port in use (and lets ``--port 0`` pick a free port);
uvicorn then serves on that socket and handles SIGINT/SIGTERM with a clean shutdown (the app's
lifespan drains in-flight deliveries and closes the store).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from iotcli.emulator.settings import EmulatorSettings
from iotcli.models.masking import mask_url

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind and listen, or raise OSError (errno EADDRINUSE for a port in use)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(
    settings: EmulatorSettings,
    sock: socket.socket,
    on_ready: Callable[[Emulator], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve until SIGINT/SIGTERM. ``on_ready`` runs once the store is open and the workers run."""
    import uvicorn

    from iotcli.emulator.app import create_app

    app = create_app(settings)
    app.state.emu.start_hooks.append(_tune_gc)
    if on_ready is not None:
        emu = app.state.emu

        async def ready() -> None:
            on_ready(emu)

        emu.start_hooks.append(ready)
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=log_level in {"debug", "info"},
        lifespan="on",
        timeout_graceful_shutdown=10,
        server_header=False,
        # Slow or endless clients (issue 11): idle keep-alive connections, header blocks and whole requests
        # are bounded, so a trickling client cannot hold a connection (or memory) for long.
        **protocol_options(settings),
        ssl_certfile=str(settings.tls.cert_file) if settings.tls is not None else None,
        ssl_keyfile=str(settings.tls.key_file) if settings.tls is not None else None,
    )
    logging.getLogger("uvicorn.access").addFilter(MaskTokens())
    emu_ = app.state.emu

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            emu_.begin_shutdown()  # event streams end, so requests in flight can drain at once
            super().handle_exit(sig, frame)

    server = Server(config)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler
    # that was installed before it; these make that a normal return (exit code 0).
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        # server.run picks the event loop like `uvicorn` does (uvloop when installed).
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def protocol_options(settings: EmulatorSettings) -> dict[str, Any]:
    """uvicorn.Config options for the emulator's HTTP protocol (``iotcli emulate`` and
    ``iotcli.testing.Emulator``): the guarded protocol class, the idle keep-alive limit, the header limit."""
    return {
        "http": guarded_protocol(settings.request_timeout, settings.max_header_size),
        "timeout_keep_alive": settings.timeout_keep_alive,
    }


def guarded_protocol(request_timeout: float, max_header_size: int) -> type[Any]:
    """uvicorn's HTTP/1.1 protocol with a slow-request limit: a request (headers and body) must arrive whole
    within ``request_timeout`` seconds of its first byte, and a new connection must start one within it;
    else the connection is closed (logged, no answer: a client this slow is not reading one either).
    A header block still open after ``max_header_size`` bytes is answered 400 and the connection closed.

    uvicorn itself only times out idle keep-alive connections, so a client sending one byte a second
    (or nothing at all after connecting) held its connection forever.

    The parser is httptools (llhttp, in C; a dependency), which costs the emulator about a fifth less CPU
    per forwarded uplink than h11 (docs/performance.md). It has no header-size limit of its own, so the
    bytes of an unfinished header block are counted here (to within one read of the socket).
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedProtocol(HttpToolsProtocol):
        _slow: asyncio.TimerHandle | None = None
        #: Inside a header block (between message begin and headers complete), and its bytes so far.
        _in_head = False
        _head_bytes = 0

        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            cycle = self.cycle
            if self._slow is None and (cycle is None or cycle.response_complete):
                self._arm()  # the first byte of the next request on a kept-alive connection
            super().data_received(data)
            if self._in_head and not self.transport.is_closing():
                self._head_bytes += len(data)
                if self._head_bytes > max_header_size:
                    self._disarm()
                    self.logger.warning("Invalid HTTP request received.")
                    self.send_400_response("Invalid HTTP request received.")
                    return
            cycle = self.cycle
            if (
                self._slow is not None
                and cycle is not None
                and not cycle.response_complete
                and not cycle.more_body
            ):
                self._disarm()  # the whole request is in

        def on_message_begin(self) -> None:
            self._in_head, self._head_bytes = True, 0
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._in_head = False
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            self._disarm()
            super().on_response_complete()

        def shutdown(self) -> None:
            idle = self.cycle is None or self.cycle.response_complete
            super().shutdown()
            if idle and self.transport.get_extra_info("sslcontext") is not None:
                # --tls: close() of an idle TLS connection waits for the client's close_notify, which a
                # client keeping the connection for later never sends: the stop would hang for the
                # whole graceful timeout. Nothing is in flight on it, so drop it at once.
                self.transport.abort()

        def _arm(self) -> None:
            self._disarm()
            self._slow = self.loop.call_later(request_timeout, self._too_slow)

        def _disarm(self) -> None:
            if self._slow is not None:
                self._slow.cancel()
                self._slow = None

        def _too_slow(self) -> None:
            self._slow = None
            if not self.transport.is_closing():
                logging.getLogger("iotcli.emulator").warning(
                    "closed a connection from %s: no whole request within %s s (--request-timeout)",
                    (self.client or ("?",))[0],
                    request_timeout,
                )
                self.transport.close()

    return GuardedProtocol


async def _tune_gc() -> None:
    """Keep the cyclic garbage collector off the request path (p99 latency of the ingest routes).

    Everything alive once the emulator has started (modules, compiled schemas, caches) moves out of the
    collector's generations, so a full collection scans only what requests made since; and young
    collections run less often. Without this a full collection paused the server for up to ~150 ms.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def _ignore(signum: int, frame: object) -> None:
    return None


class MaskTokens(logging.Filter):
    """Masks secret query values in access log lines (uvicorn logs the path with its query): the token of
    ``?authorization=`` however it is spelled (``?authoriz%61tion=`` is the same key), ``api_key``, ..."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                mask_url(arg) if isinstance(arg, str) and ("?" in arg or "@" in arg) else arg
                for arg in record.args
            )
        return True
