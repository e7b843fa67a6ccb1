"""Sending a Prepared request: a pool of keep-alive connections shared by every worker thread.

``PooledTransport`` is built on the standard library's ``http.client``: it starts in a few
milliseconds (httpx alone takes ~130 ms to import) and measured ~5,000 requests/s with 32 threads
on loopback where httpx's async client managed ~300/s and its sync client ~750/s. ``HttpxTransport``
wraps an httpx transport instead (the tests' in-process emulator).
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from iotcli.sending.request import Prepared

if TYPE_CHECKING:
    import httpx


@dataclass
class Answer:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    latency: float  # seconds, request sent -> answer read
    http_version: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


@dataclass
class SendFailure(Exception):
    """The request got no answer: connection refused, reset, DNS, or a timeout."""

    message: str
    latency: float = 0.0
    timeout: bool = False

    def __str__(self) -> str:
        return self.message


class Transport(Protocol):
    def send(self, request: Prepared) -> Answer: ...

    def close(self) -> None: ...


_STALE = (http.client.RemoteDisconnected, http.client.BadStatusLine, BrokenPipeError, ConnectionResetError)


class PooledTransport:
    """Keep-alive connections per origin, checked out by one thread at a time and put back after."""

    def __init__(self, timeout: float = 10.0, verify: bool = True, ca_file: str | None = None) -> None:
        self.timeout = timeout
        self.verify = verify
        #: https servers must chain to this CA file (``--ca-file``, a local ``emulate --tls``); None = system CAs.
        self.ca_file = ca_file
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            ctx = ssl.create_default_context(cafile=self.ca_file)
            if not self.verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            self._ssl = ctx
        return self._ssl

    def _connect(self, key: tuple[str, str, int]) -> http.client.HTTPConnection:
        scheme, host, port = key
        if scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self._context())
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def send(self, request: Prepared) -> Answer:
        parts = urlsplit(request.url)
        scheme = parts.scheme
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, parts.hostname or "", port)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = dict(request.headers)
        for attempt in range(2):
            with self._lock:
                pool = self._idle.get(key)
                conn = pool.pop() if pool else None
            reused = conn is not None
            if conn is None:
                conn = self._connect(key)
            started = time.perf_counter()
            try:
                conn.request(request.method, target, body=request.body, headers=headers)
                resp = conn.getresponse()
                body = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if reused and attempt == 0 and not isinstance(exc, TimeoutError):
                    continue  # the server closed an idle keep-alive connection: retry on a new one
                raise self._failure(exc, parts.netloc, time.perf_counter() - started) from None
            latency = time.perf_counter() - started
            answer = Answer(
                status=resp.status,
                reason=resp.reason,
                headers=list(resp.getheaders()),
                body=body,
                latency=latency,
                http_version="HTTP/1.0" if resp.version == 10 else "HTTP/1.1",
            )
            if resp.will_close:
                conn.close()
            else:
                with self._lock:
                    self._idle.setdefault(key, []).append(conn)
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    def _failure(self, exc: BaseException, where: str, latency: float) -> SendFailure:
        if isinstance(exc, TimeoutError):
            return SendFailure(f"no answer within {self.timeout:g} s", latency, timeout=True)
        if isinstance(exc, ConnectionRefusedError):
            return SendFailure(f"cannot reach {where}: connection refused", latency)
        if isinstance(exc, _STALE):
            return SendFailure(f"connection closed by {where} ({exc or type(exc).__name__})", latency)
        text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return SendFailure(f"cannot reach {where}: {text}", latency)

    def close(self) -> None:
        with self._lock:
            pools, self._idle = self._idle, {}
        for conns in pools.values():
            for conn in conns:
                conn.close()


class HttpxTransport:
    """The same interface over an httpx transport (the tests' in-process emulator, or a mock)."""

    def __init__(self, transport: httpx.BaseTransport | None = None, timeout: float = 10.0) -> None:
        import httpx

        self._httpx = httpx
        self.client = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)

    def send(self, request: Prepared) -> Answer:
        httpx = self._httpx
        started = time.perf_counter()
        try:
            resp = self.client.request(
                request.method, request.url, content=request.body, headers=request.headers
            )
        except httpx.TimeoutException:
            raise SendFailure("no answer in time", time.perf_counter() - started, timeout=True) from None
        except httpx.TransportError as exc:
            raise SendFailure(
                f"cannot reach {urlsplit(request.url).netloc}: {exc}", time.perf_counter() - started
            ) from None
        return Answer(
            status=resp.status_code,
            reason=resp.reason_phrase,
            headers=list(resp.headers.multi_items()),
            body=resp.content,
            latency=time.perf_counter() - started,
            http_version=resp.http_version,
        )

    def close(self) -> None:
        self.client.close()
