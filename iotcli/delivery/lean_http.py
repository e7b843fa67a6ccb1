"""A lean HTTP/1.1 client for plain ``http://`` forwards: keep-alive connections per host, nothing else.

The uplink forwarder sends thousands of small POSTs a second to the same destination. httpx costs
about ten times more CPU per request than the bytes on the wire need, which caps the emulator's
throughput; this client speaks just enough HTTP/1.1 for that path (Content-Length and chunked
answers, answers that end with the connection, 1xx skipped). Proxies and https stay with httpx.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlencode, urlsplit

#: Largest answer body read (bytes); the rest is discarded and the connection closed.
MAX_ANSWER = 1024 * 1024
#: Characters kept as they are in the request target (RFC 3986 reserved and unreserved, and '%').
URL_SAFE = "/%:@!$&'()*+,;=~-._"
#: Idle keep-alive connections kept per host.
MAX_IDLE = 64


class ConnectFailed(Exception):
    """The destination could not be reached (no connection)."""


class AnswerTimeout(Exception):
    """No complete answer in time."""


class ProtocolError(Exception):
    """The destination's answer is not HTTP/1.x."""


@dataclass
class LeanAnswer:
    status: int
    body: bytes


Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class LeanHttpClient:
    def __init__(self, timeout: float, user_agent: str) -> None:
        self.timeout = timeout
        self.user_agent = user_agent
        self._idle: dict[tuple[str, int], list[Conn]] = {}

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for _reader, writer in conns:
                writer.close()
        self._idle.clear()

    async def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes,
        params: dict[str, str] | None = None,
    ) -> LeanAnswer:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"lean client handles http:// URLs only, not {url[:40]}")
        host, port = parts.hostname, parts.port or 80
        # Characters that may not travel raw (non-ASCII, spaces) are percent-encoded, as httpx does.
        target = quote(parts.path or "/", safe=URL_SAFE)
        query = quote(parts.query, safe=URL_SAFE + "?")
        if params:
            query = (query + "&" if query else "") + urlencode(params)
        if query:
            target += "?" + query
        netloc = parts.netloc.rsplit("@", 1)[-1]
        lines = [
            f"{method} {target} HTTP/1.1",
            f"Host: {netloc}",
            f"User-Agent: {self.user_agent}",
            "Accept: */*",
        ]
        lower = {k.lower() for k in headers}
        for name, value in headers.items():
            if name.lower() in {"host", "content-length", "connection", "transfer-encoding"}:
                continue
            lines.append(f"{name}: {value}")
        if parts.username is not None and "authorization" not in lower:
            # Credentials in the URL become Basic auth, as httpx does.
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            lines.append("Authorization: Basic " + base64.b64encode(pair).decode())
        if body or method in {"POST", "PUT", "PATCH"}:
            lines.append(f"Content-Length: {len(body)}")
        if "connection" not in lower:
            lines.append("Connection: keep-alive")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body
        deadline = time.monotonic() + self.timeout
        key = (host, port)
        # A pooled connection may have been closed by the server meanwhile: then once more on a fresh one.
        for reused in (True, False):
            conn = self._take(key) if reused else None
            if reused and conn is None:
                continue
            if conn is None:
                conn = await self._connect(host, port, deadline)
            try:
                answer, keep = await asyncio.wait_for(
                    self._exchange(conn, data, method), timeout=max(0.001, deadline - time.monotonic())
                )
            except TimeoutError:
                conn[1].close()
                raise AnswerTimeout(f"no answer within {self.timeout:g} s") from None
            except (ConnectionError, asyncio.IncompleteReadError, ProtocolError, OSError) as exc:
                conn[1].close()
                if reused and not isinstance(exc, ProtocolError):
                    continue
                raise
            except BaseException:
                # Anything else (a cancelled worker, a bug): the connection is in an unknown state.
                conn[1].close()
                raise
            if keep:
                self._give(key, conn)
            else:
                conn[1].close()
            return answer
        raise ConnectFailed("no connection")  # not reached

    def _take(self, key: tuple[str, int]) -> Conn | None:
        conns = self._idle.get(key)
        while conns:
            reader, writer = conns.pop()
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
            writer.close()
        return None

    def _give(self, key: tuple[str, int], conn: Conn) -> None:
        conns = self._idle.setdefault(key, [])
        if len(conns) < MAX_IDLE:
            conns.append(conn)
        else:
            conn[1].close()

    async def _connect(self, host: str, port: int, deadline: float) -> Conn:
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=2**20),
                timeout=max(0.001, deadline - time.monotonic()),
            )
        except TimeoutError:
            raise AnswerTimeout(f"connect timeout after {self.timeout:g} s") from None
        except OSError as exc:
            raise ConnectFailed(f"{type(exc).__name__}: {exc}") from None

    async def _exchange(self, conn: Conn, data: bytes, method: str) -> tuple[LeanAnswer, bool]:
        reader, writer = conn
        writer.write(data)
        await writer.drain()
        while True:
            head = await _read_until(reader, b"\r\n\r\n")
            status_line, _, rest = head.partition(b"\r\n")
            parts = status_line.split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise ProtocolError(f"not an HTTP/1.x answer: {status_line[:60]!r}")
            status = int(parts[1])
            if 100 <= status < 200 and status != 101:
                continue  # 100 Continue and friends: the real answer follows
            break
        headers: dict[bytes, bytes] = {}
        for line in rest.split(b"\r\n"):
            name, sep, value = line.partition(b":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        keep = parts[0] == b"HTTP/1.1" and headers.get(b"connection", b"").lower() != b"close"
        if method == "HEAD" or status in (204, 304):
            return LeanAnswer(status, b""), keep
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            return LeanAnswer(status, await self._chunked(reader)), keep
        if b"content-length" in headers:
            length = _parse_int(headers[b"content-length"], 10, "Content-Length")
            if length > MAX_ANSWER:
                body = await reader.readexactly(MAX_ANSWER)
                return LeanAnswer(status, body), False
            return LeanAnswer(status, await reader.readexactly(length)), keep
        # The answer ends with the connection: read until EOF, keeping at most MAX_ANSWER bytes.
        pieces: list[bytes] = []
        size = 0
        while size < MAX_ANSWER:
            piece = await reader.read(MAX_ANSWER - size)
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
        body = b"".join(pieces)
        with contextlib.suppress(Exception):
            while await reader.read(65536):
                pass
        return LeanAnswer(status, body), False

    @staticmethod
    async def _chunked(reader: asyncio.StreamReader) -> bytes:
        chunks: list[bytes] = []
        size_total = 0
        while True:
            line = await _read_until(reader, b"\r\n")
            size = _parse_int(line.split(b";", 1)[0].strip(), 16, "chunk size")
            if size == 0:
                # Trailers end with an empty line.
                while (await _read_until(reader, b"\r\n")) != b"\r\n":
                    pass
                return b"".join(chunks)
            chunk = await reader.readexactly(size + 2)
            if size_total < MAX_ANSWER:
                chunks.append(chunk[:-2])
            size_total += size


async def _read_until(reader: asyncio.StreamReader, separator: bytes) -> bytes:
    """``reader.readuntil``, with a line or header block over the reader's limit as a ProtocolError."""
    try:
        return await reader.readuntil(separator)
    except (asyncio.LimitOverrunError, ValueError) as exc:
        raise ProtocolError(f"answer line or header block too long: {exc}") from None


def _parse_int(value: bytes, base: int, what: str) -> int:
    """A non-negative Content-Length (base 10) or chunk size (base 16); anything else is a ProtocolError."""
    digits = b"0123456789" if base == 10 else b"0123456789abcdefABCDEF"
    if not value or len(value) > 16 or value.strip(digits):
        raise ProtocolError(f"invalid {what}: {value[:40]!r}")
    return int(value, base)
