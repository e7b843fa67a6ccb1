"""The fast HTTP/1.1 client of the forwarder (h11 reads its answers): every framing, keep-alive, failures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from iotcli.delivery import lean_http
from iotcli.delivery.lean_http import AnswerTimeout, ConnectFailed, LeanHttpClient, ProtocolError
from iotcli.delivery.outbox import OutboundRequest
from iotcli.delivery.worker import DeliveryWorker
from tests.harness import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


def run(handler: Handler, test: Callable[[str], Awaitable[None]]) -> None:
    async def main() -> None:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            await test(f"http://127.0.0.1:{port}")

    asyncio.run(main())


def test_content_length_answer_and_keep_alive_reuse() -> None:
    connections = 0
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            while True:
                head, body = await read_request(reader)
                seen.append(head + body)
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello")
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    async def test(base: str) -> None:
        client = LeanHttpClient(5, "ua/1")
        for i in range(3):
            url = f"{base}/up?x=1".replace("http://", "http://u%40x:p@")
            url = url if i else url.replace("/up?x=1", "/up?x=1&n=é")
            answer = await client.request("POST", url, {"X-Thing": "A"}, b'{"i":%d}' % i, {"T": "a+b"})
            assert answer.status == 201 and answer.body == b"hello"
        await client.aclose()

    run(handler, test)
    assert connections == 1
    first = seen[0].decode()
    assert first.startswith("POST /up?x=1&n=%C3%A9&T=a%2Bb HTTP/1.1\r\n")
    assert "Authorization: Basic dUB4OnA=\r\n" in first and "@" not in first.split("\r\n")[1]
    assert "X-Thing: A\r\n" in first and "Content-Length: 7\r\n" in first and "User-Agent: ua/1" in first
    assert first.endswith('{"i":0}')


def test_chunked_and_close_delimited_answers() -> None:
    answers = [
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        b"HTTP/1.0 500 Oops\r\n\r\nno length here",
    ]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answers.pop(0))
        await writer.drain()
        writer.close()

    async def test(base: str) -> None:
        client = LeanHttpClient(5, "ua")
        first = await client.request("POST", base, {}, b"x")
        assert (first.status, first.body) == (200, b"abcde")
        # The server closed the kept connection: the client notices and opens a fresh one.
        second = await client.request("POST", base, {}, b"x")
        assert (second.status, second.body) == (500, b"no length here")

    run(handler, test)


def test_connect_refused_and_timeout() -> None:
    async def main() -> None:
        client = LeanHttpClient(0.2, "ua")
        with pytest.raises(ConnectFailed):
            await client.request("POST", f"http://127.0.0.1:{free_port()}/", {}, b"")

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await asyncio.sleep(2)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            with pytest.raises(AnswerTimeout):
                await client.request("POST", f"http://127.0.0.1:{port}/", {}, b"")
            server.close()

    asyncio.run(main())


def test_only_plain_http() -> None:
    with pytest.raises(ValueError):
        asyncio.run(LeanHttpClient(1, "ua").request("POST", "https://example.com/", {}, b""))


def test_close_delimited_answer_sent_in_pieces_arrives_whole() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nfirst part, ")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"second part")
        await writer.drain()
        writer.close()

    async def test(base: str) -> None:
        client = LeanHttpClient(5, "ua")
        answer = await client.request("POST", base, {}, b"x")
        assert (answer.status, answer.body) == (200, b"first part, second part")
        await client.aclose()

    run(handler, test)


def test_close_delimited_answer_is_capped_at_max_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lean_http, "MAX_ANSWER", 10)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for piece in (b"HTTP/1.0 200 OK\r\n\r\nabcdef", b"ghijklmnop", b"qrstuvwxyz"):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.02)
        writer.close()

    async def test(base: str) -> None:
        answer = await LeanHttpClient(5, "ua").request("POST", base, {}, b"x")
        assert (answer.status, answer.body) == (200, b"abcdefghij")

    run(handler, test)


def record_connections(client: LeanHttpClient) -> list[lean_http.Conn]:
    """Keep every connection the client opens (so only the client itself can close them)."""
    conns: list[lean_http.Conn] = []
    connect = client._connect

    async def recording(host: str, port: int, deadline: float) -> lean_http.Conn:
        conn = await connect(host, port, deadline)
        conns.append(conn)
        return conn

    client._connect = recording  # type: ignore[method-assign]
    return conns


def protocol_error_server(answer: bytes) -> tuple[Handler, list[str]]:
    """A server answering the first request of each connection with ``answer``, then a good answer to the
    next ones; it records for each connection how it ended ("closed" when the client closed it)."""
    ends: list[str] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = not ends
        ends.append("open")
        index = len(ends) - 1
        try:
            await read_request(reader)
            writer.write(answer if first else b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            # The client must not leave the connection open after a protocol error.
            await asyncio.wait_for(reader.read(), 2)
            ends[index] = "closed"
        except (ConnectionError, asyncio.IncompleteReadError):
            ends[index] = "closed"
        except TimeoutError:
            ends[index] = "left open"
        finally:
            writer.close()

    return handler, ends


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nbody",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nbody",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nbody\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (2**20 + 1024) + b"\r\n\r\n",
    ],
    ids=["content-length-text", "content-length-negative", "chunk-size", "oversized-header-block"],
)
def test_malformed_answer_is_a_protocol_error_and_closes_the_connection(answer: bytes) -> None:
    handler, ends = protocol_error_server(answer)

    async def test(base: str) -> None:
        client = LeanHttpClient(5, "ua")
        conns = record_connections(client)
        with pytest.raises(ProtocolError):
            await client.request("POST", base, {}, b"x")
        assert len(conns) == 1 and conns[0][1].is_closing()
        # The broken connection is not reused: the next request opens a fresh one.
        answer = await client.request("POST", base, {}, b"x")
        assert (answer.status, answer.body) == (200, b"ok")
        assert len(conns) == 2
        await client.aclose()
        for _ in range(200):
            if ends[0] != "open":
                break
            await asyncio.sleep(0.01)

    run(handler, test)
    assert len(ends) == 2
    assert ends[0] == "closed"


def test_cancelled_request_closes_its_connection() -> None:
    started = asyncio.Event()
    ends: list[str] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await read_request(reader)
            started.set()
            await asyncio.wait_for(reader.read(), 2)  # no answer: wait for the client to give up
            ends.append("closed")
        except ConnectionError:
            ends.append("closed")
        except TimeoutError:
            ends.append("left open")
        finally:
            writer.close()

    async def test(base: str) -> None:
        client = LeanHttpClient(5, "ua")
        conns = record_connections(client)
        task = asyncio.create_task(client.request("POST", base, {}, b"x"))
        await asyncio.wait_for(started.wait(), 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(conns) == 1 and conns[0][1].is_closing()
        for _ in range(300):
            if ends:
                break
            await asyncio.sleep(0.01)

    run(handler, test)
    assert ends == ["closed"]


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\nbody",
        b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (2**20 + 1024) + b"\r\n\r\n",
    ],
    ids=["content-length", "oversized-headers"],
)
def test_worker_records_a_malformed_answer_as_a_failed_attempt(answer: bytes) -> None:
    handler, _ends = protocol_error_server(answer)

    async def test(base: str) -> None:
        async with httpx.AsyncClient(timeout=5) as http:
            worker = DeliveryWorker(None, None, None, http)  # type: ignore[arg-type]  # send needs only http
            result = await worker.send(OutboundRequest("POST", base, body=b"x", lean=True))
            assert worker.sender._fast is not None  # it went through the fast client
            await worker.sender.aclose()
        assert result.status is None and result.unreachable
        assert result.error is not None and result.error.startswith("RemoteProtocolError: ProtocolError: ")

    run(handler, test)


def test_an_answer_h11_read_once_is_known_by_its_bytes_and_others_still_go_to_h11() -> None:
    answers = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nsplit",  # sent in two pieces
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    ]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while answers:
                await read_request(reader)
                answer = answers.pop(0)
                if answer.endswith(b"split"):
                    writer.write(answer[:-3])
                    await writer.drain()
                    await asyncio.sleep(0.05)
                    answer = answer[-3:]
                writer.write(answer)
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    async def test(base: str) -> None:
        client = LeanHttpClient(5, "ua")
        conns = record_connections(client)
        got = [await client.request("POST", base, {}, b"x") for _ in range(6)]
        assert [(a.status, a.body) for a in got] == [
            (200, b"ok"),
            (200, b"ok"),
            (503, b"busy"),
            (200, b"ok"),
            (200, b"split"),
            (200, b"ok"),
        ]
        # The repeated answers were h11's first reading of those bytes; the split one and the closing
        # one were not remembered. One connection, until the server's "Connection: close".
        assert got[1] is got[0] and got[3] is got[0]
        assert sorted(a.body for a in client._known.values()) == [b"busy", b"ok"]
        assert len(conns) == 1 and conns[0][1].is_closing()
        await client.aclose()

    run(handler, test)
