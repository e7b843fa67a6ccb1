"""Sending a Prepared request: a pool of keep-alive connections shared by every worker thread.

``PooledTransport`` is built on the standard library's ``http.client``: it starts in a few
milliseconds (httpx alone takes ~130 ms to import) and measured ~5,000 requests/s with 32 threads
on loopback where httpx's async client managed ~300/s and its sync client ~750/s. ``HttpxTransport``
wraps an httpx transport instead (the tests' in-process emulator).
"""

from __future__ import annotations

import _socket  # socket.py's C core: see SingleShotTransport
import threading
import time
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from iotcli.sending.request import Prepared

if TYPE_CHECKING:
    import http.client
    import ssl

    import httpx


class Answer:
    """An HTTP answer (a plain class, as every class a single send creates: see ``iotcli.sending``)."""

    __slots__ = ("status", "reason", "headers", "body", "latency", "http_version")

    def __init__(
        self,
        status: int,
        reason: str,
        headers: list[tuple[str, str]],
        body: bytes,
        latency: float,  # seconds, request sent -> answer read
        http_version: str = "HTTP/1.1",
    ) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.latency = latency
        self.http_version = http_version

    def __repr__(self) -> str:
        return f"Answer({self.status} {self.reason}, {len(self.body)} bytes, {self.latency * 1000:.1f} ms)"

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class SendFailure(Exception):
    """The request got no answer: connection refused, reset, DNS, or a timeout."""

    def __init__(self, message: str, latency: float = 0.0, timeout: bool = False) -> None:
        self.message = message
        self.latency = latency
        self.timeout = timeout

    def __str__(self) -> str:
        return self.message


class Transport(Protocol):
    def send(self, request: Prepared) -> Answer: ...

    def close(self) -> None: ...


def _stale() -> tuple[type[BaseException], ...]:
    import http.client

    return (http.client.RemoteDisconnected, http.client.BadStatusLine, BrokenPipeError, ConnectionResetError)


class PooledTransport:
    """Keep-alive connections per origin, checked out by one thread at a time and put back after."""

    def __init__(self, timeout: float = 10.0, verify: bool = True, ca_file: str | None = None) -> None:
        import http.client  # here: a single plain-http send (SingleShotTransport) does without it

        self._http = http.client
        self.timeout = timeout
        self.verify = verify
        #: https servers must chain to this CA file (``--ca-file``, a local ``emulate --tls``); None = system CAs.
        self.ca_file = ca_file
        self._idle: dict[tuple[str, str, int], list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None

    def _context(self) -> ssl.SSLContext:
        import ssl

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
            return self._http.HTTPSConnection(host, port, timeout=self.timeout, context=self._context())
        return self._http.HTTPConnection(host, port, timeout=self.timeout)

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
            except (OSError, self._http.HTTPException) as exc:
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
        if isinstance(exc, _stale()):
            return SendFailure(f"connection closed by {where} ({exc or type(exc).__name__})", latency)
        text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return SendFailure(f"cannot reach {where}: {text}", latency)

    def close(self) -> None:
        with self._lock:
            pools, self._idle = self._idle, {}
        for conns in pools.values():
            for conn in conns:
                conn.close()


class SingleShotTransport:
    """One plain-``http://`` request on a socket of its own: what a single ``send-uplink`` needs.

    The request on the wire is the one ``http.client`` would write (request line, Host,
    Accept-Encoding: identity, the headers, Content-Length); the answer is framed by Content-Length,
    chunked encoding, or the end of the connection; 1xx answers are skipped. ``http.client`` and the
    ``email`` package it loads cost ~20 ms of start-up, a fifth of a single send. Many sends use
    ``PooledTransport`` (keep-alive). The socket is the ``_socket`` module's own, connected as
    ``socket.create_connection`` connects: ``socket.py`` adds nothing this needs, and its import turns
    some 300 constants into enums (~2 ms, a sixth of what is left of the 100 ms once typer is loaded).
    """

    MAX_ANSWER = 64 * 1024 * 1024

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout

    @staticmethod
    def usable(url: str) -> bool:
        return url.startswith("http://")

    def send(self, request: Prepared) -> Answer:
        parts = urlsplit(request.url)
        where = parts.netloc
        host = parts.hostname or ""
        port = parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        names = {k.lower() for k, _v in request.headers}
        lines = [f"{request.method} {target} HTTP/1.1"]
        if "host" not in names:
            lines.append(f"Host: {where}")
        if "accept-encoding" not in names:
            lines.append("Accept-Encoding: identity")
        lines += [f"{k}: {v}" for k, v in request.headers]
        body = request.body or b""
        if "content-length" not in names and (body or request.method in ("POST", "PUT", "PATCH")):
            lines.append(f"Content-Length: {len(body)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        started = time.perf_counter()
        try:
            # An ASCII host as bytes: getaddrinfo then needs no IDNA codec (its import costs ~1 ms).
            address = host.encode("ascii") if host.isascii() else host
            sock = _connect(address, port, self.timeout)
            try:
                sock.sendall(data)
                answer = self._read(sock, request.method, started)
            finally:
                sock.close()
        except TimeoutError:
            raise SendFailure(
                f"no answer within {self.timeout:g} s", time.perf_counter() - started, timeout=True
            ) from None
        except ConnectionRefusedError:
            raise SendFailure(
                f"cannot reach {where}: connection refused", time.perf_counter() - started
            ) from None
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise SendFailure(
                f"connection closed by {where} ({exc or type(exc).__name__})", time.perf_counter() - started
            ) from None
        except _BadAnswer as exc:
            raise SendFailure(
                f"connection closed by {where} ({exc})", time.perf_counter() - started
            ) from None
        except OSError as exc:
            text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            if isinstance(exc, _socket.gaierror):
                text = str(exc)
            raise SendFailure(f"cannot reach {where}: {text}", time.perf_counter() - started) from None
        return answer

    def _read(self, sock: _socket.socket, method: str, started: float) -> Answer:
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise _BadAnswer("the answer ended before its headers" if buf else "no answer")
                buf += chunk
                if len(buf) > 1024 * 1024:
                    raise _BadAnswer("answer headers too long")
            head, buf = buf.split(b"\r\n\r\n", 1)
            first, *header_lines = head.decode("latin-1").split("\r\n")
            version, _sp, rest = first.partition(" ")
            code_text, _sp, reason = rest.partition(" ")
            if not version.startswith("HTTP/1.") or not code_text.isdigit():
                raise _BadAnswer(f"not an HTTP answer: {first[:60]!r}")
            status = int(code_text)
            headers = []
            for line in header_lines:
                name, sep, value = line.partition(":")
                if sep:
                    headers.append((name.strip(), value.strip()))
            if 100 <= status < 200:
                continue  # 100 Continue and friends: the real answer follows
            break
        lower = {k.lower(): v for k, v in headers}
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "chunked" in lower.get("transfer-encoding", "").lower():
            body = self._chunked(sock, buf)
        elif lower.get("content-length", "").strip().isdigit():
            length = int(lower["content-length"])
            while len(buf) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    raise _BadAnswer("the answer ended before its Content-Length")
                buf += chunk
            body = buf[:length]
        else:  # framed by the end of the connection
            while len(buf) <= self.MAX_ANSWER:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
            body = buf
        return Answer(
            status=status,
            reason=reason,
            headers=headers,
            body=body,
            latency=time.perf_counter() - started,
            http_version="HTTP/1.0" if version == "HTTP/1.0" else "HTTP/1.1",
        )

    @staticmethod
    def _chunked(sock: _socket.socket, buf: bytes) -> bytes:
        body = b""
        while True:
            while b"\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise _BadAnswer("the chunked answer ended early")
                buf += chunk
            size_line, buf = buf.split(b"\r\n", 1)
            try:
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            except ValueError:
                raise _BadAnswer("bad chunk size in the answer") from None
            if size == 0:
                return body
            while len(buf) < size + 2:
                chunk = sock.recv(65536)
                if not chunk:
                    raise _BadAnswer("the chunked answer ended early")
                buf += chunk
            body += buf[:size]
            buf = buf[size + 2 :]

    def close(self) -> None:
        pass


def _connect(host: bytes | str, port: int, timeout: float) -> _socket.socket:
    """``socket.create_connection((host, port), timeout)`` on a ``_socket`` socket: each address
    ``getaddrinfo`` gives in turn; if none connects, the last one's error."""
    error: OSError | None = None
    for family, kind, proto, _name, address in _socket.getaddrinfo(host, port, 0, _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error if error is not None else OSError("getaddrinfo returns an empty list")


class _BadAnswer(Exception):
    """The bytes that came back are not a complete HTTP/1.x answer."""


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
