"""The lean HTTP/1.1 client of the forwarder: answers of every framing, keep-alive, failures."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from iotcli.delivery.lean_http import AnswerTimeout, ConnectFailed, LeanHttpClient
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
