"""The fast HTTP/1.1 client for plain ``http://`` forwards: keep-alive connections per host, nothing else.

The uplink forwarder sends thousands of small POSTs a second to the same destination. httpx costs
about ten times more CPU per request than the bytes on the wire need, which caps the emulator's
throughput; this client writes the request itself (one ``bytes`` per request) and lets h11 read the
answer (Content-Length, chunked and close-delimited bodies, 1xx skipped, keep-alive). Each connection
is an ``asyncio.Protocol`` feeding h11 directly. Proxies and https stay with httpx (see sender.py).
"""

from __future__ import annotations

import asyncio
import base64
import functools
from typing import cast
from urllib.parse import quote, unquote, urlencode, urlsplit

import h11

from iotcli.delivery.protocols import (
    Answer,
    AnswerTimeout,
    ConnectFailed,
    ConnectionLost,
    InvalidRequest,
    ProtocolError,
)

__all__ = ["AnswerTimeout", "ConnectFailed", "LeanAnswer", "LeanHttpClient", "ProtocolError"]

#: Largest answer body read (bytes); the rest is discarded and the connection closed.
MAX_ANSWER = 1024 * 1024
#: Largest status line + header block of an answer (bytes); a longer one is a protocol error.
MAX_HEAD = 1024 * 1024
#: Characters kept as they are in the request target (RFC 3986 reserved and unreserved, and '%').
URL_SAFE = "/%:@!$&'()*+,;=~-._"
#: Idle keep-alive connections kept per host.
MAX_IDLE = 64
#: Headers the client writes itself (a caller's value for them is not sent).
OWN_HEADERS = frozenset({"host", "content-length", "connection", "transfer-encoding"})

LeanAnswer = Answer

#: What h11 is told each request was: the request line and headers are written by hand (cheaper), but
#: h11 frames the answer by the request's method (a HEAD answer has no body), so it sees one of these.
_REQUESTS: dict[str, h11.Request] = {}
_END = h11.EndOfMessage()


def _request_event(method: str) -> h11.Request:
    event = _REQUESTS.get(method)
    if event is None:
        event = _REQUESTS[method] = h11.Request(
            method=method, target="/", headers=[("Host", "-"), ("Content-Length", "0")]
        )
    return event


@functools.lru_cache(maxsize=1024)
def _split(url: str) -> tuple[str, int, str, str, str, str | None]:
    """host, port, path and query (percent-encoded), Host header value, and the Basic auth header line
    for credentials in the URL. Cached: a forwarder sends to the same few URLs over and over."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise InvalidRequest(f"lean client handles http:// URLs only, not {url[:40]}")
    # Characters that may not travel raw (non-ASCII, spaces) are percent-encoded, as httpx does.
    target = quote(parts.path or "/", safe=URL_SAFE)
    query = quote(parts.query, safe=URL_SAFE + "?")
    basic = None
    if parts.username is not None:
        # Credentials in the URL become Basic auth, as httpx does.
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        basic = "Authorization: Basic " + base64.b64encode(pair).decode()
    return parts.hostname, parts.port or 80, target, query, parts.netloc.rsplit("@", 1)[-1], basic


#: Answers h11 read, by request method and the answer's exact bytes (see ``Wire.data_received``).
Known = dict[tuple[str, bytes], Answer]
#: Answers remembered per client (the table starts afresh when full), and the largest remembered.
MAX_KNOWN = 64
MAX_KNOWN_SIZE = 4096


class Wire(asyncio.Protocol):
    """One connection: the bytes that arrive go to its h11 state machine; a request waits for them.

    A destination answers a stream of forwards with the same bytes again and again (``200``, the same
    headers, the same short body). An answer that arrived in one piece, on a connection whose h11 state
    was fresh (nothing buffered), and that h11 read as one complete kept-alive answer, is remembered
    with what h11 made of it; the same bytes in the same situation are that answer again, so they are
    not parsed again (h11's reading is a function of the method, the bytes and that fresh state, which
    a remembered answer leaves as it was). Anything else goes to h11.
    """

    def __init__(self, known: Known | None = None) -> None:
        self.parser = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.transport: asyncio.Transport | None = None
        #: The peer closed (or the connection broke): nothing more arrives.
        self.eof = False
        self.lost: Exception | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.known: Known = {} if known is None else known
        #: h11 is between answers with nothing buffered (so a remembered answer can stand for it).
        self.clean = True
        #: Set while waiting for the first bytes of an answer to a request of this method.
        self.method: str | None = None
        #: The answer's bytes while it came in one piece (None once a second piece arrived).
        self.first: bytes | None = None
        self.hit: Answer | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not subclasses of asyncio.Transport, but have its methods)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        method = self.method
        if method is not None:  # the first bytes of an answer
            self.method = None
            hit = self.known.get((method, data))
            if hit is not None:
                self.hit = hit
                self._wake()
                return
            self.first = data
        else:
            self.first = None
        self.parser.receive_data(data)
        self._wake()

    def eof_received(self) -> bool | None:
        self._closed(None)
        return None  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed(exc)

    def _closed(self, exc: Exception | None) -> None:
        if not self.eof:
            self.eof = True
            self.lost = exc
            self.parser.receive_data(b"")
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def more(self) -> None:
        """Return once more bytes (or the end of the connection) arrived."""
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def broken(self) -> ConnectionLost:
        exc = self.lost
        if exc is None:
            return ConnectionLost("ConnectionClosed: the connection closed before a complete answer")
        return ConnectionLost(f"{type(exc).__name__}: {exc}")


Conn = tuple[Wire, asyncio.Transport]


class LeanHttpClient:
    def __init__(self, timeout: float, user_agent: str) -> None:
        self.timeout = timeout
        self.user_agent = user_agent
        self._idle: dict[tuple[str, int], list[Conn]] = {}
        #: Answers h11 read, shared by this client's connections (see ``Wire``).
        self._known: Known = {}

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for _wire, transport in conns:
                transport.close()
        self._idle.clear()

    def encode(
        self, method: str, url: str, headers: dict[str, str], body: bytes, params: dict[str, str] | None
    ) -> tuple[str, int, bytes]:
        """The destination's host and port, and the request's bytes."""
        host, port, target, query, netloc, basic = _split(url)
        if params:
            query = (query + "&" if query else "") + urlencode(params)
        if query:
            target += "?" + query
        lines = [
            f"{method} {target} HTTP/1.1",
            f"Host: {netloc}",
            f"User-Agent: {self.user_agent}",
            "Accept: */*",
        ]
        lower = {k.lower() for k in headers}
        for name, value in headers.items():
            if name.lower() not in OWN_HEADERS:
                lines.append(f"{name}: {value}")
        if basic is not None and "authorization" not in lower:
            lines.append(basic)
        if body or method in {"POST", "PUT", "PATCH"}:
            lines.append(f"Content-Length: {len(body)}")
        if "connection" not in lower:
            lines.append("Connection: keep-alive")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body
        return host, port, data

    async def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes,
        params: dict[str, str] | None = None,
    ) -> Answer:
        host, port, data = self.encode(method, url, headers, body, params)
        deadline = asyncio.get_running_loop().time() + self.timeout
        key = (host, port)
        # A pooled connection may have been closed by the server meanwhile: then once more on a fresh one.
        for reused in (True, False):
            conn = self._take(key) if reused else None
            if reused and conn is None:
                continue
            if conn is None:
                conn = await self._connect(host, port, deadline)
            wire, transport = conn
            try:
                async with asyncio.timeout_at(deadline):
                    answer, keep = await self._exchange(wire, data, method)
            except TimeoutError:
                transport.close()
                raise AnswerTimeout(f"no answer within {self.timeout:g} s") from None
            except ConnectionLost:
                transport.close()
                if reused:
                    continue
                raise
            except BaseException:
                # A protocol error, a cancelled worker, a bug: the connection is in an unknown state.
                transport.close()
                raise
            if keep:
                self._give(key, conn)
            else:
                transport.close()
            return answer
        raise ConnectFailed("no connection")  # not reached

    def _take(self, key: tuple[str, int]) -> Conn | None:
        conns = self._idle.get(key)
        while conns:
            wire, transport = conns.pop()
            if not wire.eof and not transport.is_closing() and wire.parser.our_state is h11.IDLE:
                return wire, transport
            transport.close()
        return None

    def _give(self, key: tuple[str, int], conn: Conn) -> None:
        conns = self._idle.setdefault(key, [])
        if len(conns) < MAX_IDLE:
            conns.append(conn)
        else:
            conn[1].close()

    async def _connect(self, host: str, port: int, deadline: float) -> Conn:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(deadline):
                transport, wire = await loop.create_connection(lambda: Wire(self._known), host, port)
        except TimeoutError:
            raise AnswerTimeout(f"connect timeout after {self.timeout:g} s") from None
        except OSError as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from None
        return wire, cast(asyncio.Transport, transport)

    @staticmethod
    async def _exchange(wire: Wire, data: bytes, method: str) -> tuple[Answer, bool]:
        """Send ``data`` and read the answer with h11; also says whether the connection can be kept."""
        parser, transport = wire.parser, wire.transport
        assert transport is not None
        armed = wire.clean and not wire.eof
        wire.clean = False
        wire.first = wire.hit = None
        if armed:
            wire.method = method
            transport.write(data)
            while wire.hit is None and wire.first is None and not wire.eof:
                await wire.more()
            wire.method = None
            hit = wire.hit
            if hit is not None:
                wire.hit = None
                wire.clean = True
                return hit, True
            parser.send(_request_event(method))
            parser.send(_END)
        else:
            parser.send(_request_event(method))
            parser.send(_END)
            transport.write(data)
        status = 0
        pieces: list[bytes] = []
        size = 0
        while True:
            try:
                event = parser.next_event()
            except h11.RemoteProtocolError as exc:
                if wire.eof and not status:
                    raise wire.broken() from None  # closed before any answer (a stale kept connection)
                raise ProtocolError(str(exc)) from None
            if event is h11.NEED_DATA:
                if wire.eof:
                    raise wire.broken()
                await wire.more()
            elif isinstance(event, h11.Data):
                pieces.append(event.data)
                size += len(event.data)
                if size >= MAX_ANSWER:
                    # Enough kept: the rest is not read, the connection goes.
                    return Answer(status, b"".join(pieces)[:MAX_ANSWER]), False
            elif isinstance(event, h11.Response):
                status = event.status_code
                # h11 caps only a head still incomplete; one that arrived whole is measured here.
                if sum(len(name) + len(value) + 4 for name, value in event.headers) > MAX_HEAD:
                    raise ProtocolError("answer line or header block too long")
            elif isinstance(event, h11.EndOfMessage):
                break
            elif not isinstance(event, h11.InformationalResponse):  # 100 Continue: the answer follows
                raise wire.broken()  # ConnectionClosed or PAUSED before the end of the answer
        answer = Answer(status, b"".join(pieces))
        keep = parser.our_state is h11.DONE and parser.their_state is h11.DONE
        if keep:
            parser.start_next_cycle()
            wire.clean = not parser.trailing_data[0]
            first = wire.first
            if armed and wire.clean and first is not None and len(first) <= MAX_KNOWN_SIZE:
                if len(wire.known) >= MAX_KNOWN:
                    wire.known.clear()
                wire.known[(method, first)] = answer
        return answer, keep
