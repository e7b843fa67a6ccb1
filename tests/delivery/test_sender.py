"""One outbound path (delivery/sender.py): which client a request takes, and one error mapping for both."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from iotcli.delivery.outbox import OutboundRequest
from iotcli.delivery.protocols import (
    Answer,
    AnswerTimeout,
    ConnectFailed,
    ConnectionLost,
    InvalidRequest,
    ProtocolError,
    SendError,
)
from iotcli.delivery.sender import Sender


class FakeFast:
    """A fast client for tests (the HttpClient Protocol): records requests, answers or raises."""

    def __init__(self, answer: Answer | None = None, error: Exception | None = None) -> None:
        self.answer = answer or Answer(200, b"ok")
        self.error = error
        self.seen: list[tuple[str, str, dict[str, str], bytes, dict[str, str] | None]] = []
        self.closed = False

    async def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes,
        params: dict[str, str] | None = None,
    ) -> Answer:
        self.seen.append((method, url, headers, body, params))
        if self.error is not None:
            raise self.error
        return self.answer

    async def aclose(self) -> None:
        self.closed = True


def mock(handler: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler), timeout=5)  # type: ignore[arg-type]


def send(sender: Sender, req: OutboundRequest) -> object:
    return asyncio.run(sender.send(req))


def test_lean_plain_http_goes_to_the_fast_client_the_rest_to_httpx() -> None:
    fast = FakeFast(Answer(201, "héllo".encode()))
    through_httpx: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        through_httpx.append(str(request.url))
        return httpx.Response(202, text="from httpx")

    async def main() -> None:
        sender = Sender(mock(handler), fast=fast)
        lean = await sender.send(
            OutboundRequest("POST", "http://h/up", {"X": "1"}, b"b", {"q": "1"}, lean=True)
        )
        assert (lean.status, lean.body, lean.error) == (201, "héllo", None)
        assert fast.seen == [("POST", "http://h/up", {"X": "1"}, b"b", {"q": "1"})]
        # Not marked lean (endpoint calls), https: httpx.
        plain = await sender.send(OutboundRequest("POST", "http://h/endpoint"))
        https = await sender.send(OutboundRequest("POST", "https://h/up", lean=True))
        assert (plain.status, plain.body, https.status) == (202, "from httpx", 202)
        assert through_httpx == ["http://h/endpoint", "https://h/up"] and len(fast.seen) == 1
        await sender.aclose()
        assert fast.closed

    asyncio.run(main())


def test_a_test_transport_takes_every_request_proxied_ones_too() -> None:
    fast = FakeFast()
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200)

    async def main() -> None:
        transport = httpx.MockTransport(handler)
        sender = Sender(httpx.AsyncClient(transport=transport), fast=fast, transport=transport)
        await sender.send(OutboundRequest("POST", "http://h/lean", lean=True))
        await sender.send(
            OutboundRequest("POST", "http://h/proxied", proxy="http://u:p@proxy:3128", lean=True)
        )
        await sender.aclose()

    asyncio.run(main())
    assert seen == ["http://h/lean", "http://h/proxied"] and fast.seen == []


@pytest.mark.parametrize(
    ("error", "text", "unreachable"),
    [
        (AnswerTimeout("no answer within 10 s"), "timeout: no answer within 10 s", True),
        (
            ConnectFailed("ConnectionRefusedError: refused"),
            "ConnectError: ConnectionRefusedError: refused",
            True,
        ),
        (ProtocolError("bad chunk"), "RemoteProtocolError: ProtocolError: bad chunk", True),
        (
            ConnectionLost("ConnectionResetError: reset"),
            "RemoteProtocolError: ConnectionResetError: reset",
            True,
        ),
        (InvalidRequest("no host"), "invalid request: no host", False),
    ],
)
def test_fast_client_failures_become_failed_attempts(error: SendError, text: str, unreachable: bool) -> None:
    sender = Sender(httpx.AsyncClient(), fast=FakeFast(error=error))
    result = send(sender, OutboundRequest("POST", "http://h/up", lean=True))
    assert (result.status, result.body, result.error, result.unreachable) == (None, None, text, unreachable)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("exc", "text", "unreachable"),
    [
        (httpx.ReadTimeout("slow"), "timeout: ReadTimeout", True),
        (httpx.ConnectTimeout("slow"), "timeout: ConnectTimeout", True),
        (
            httpx.ConnectError("[Errno 111] Connection refused"),
            "ConnectError: [Errno 111] Connection refused",
            True,
        ),
        (httpx.RemoteProtocolError("Server disconnected"), "RemoteProtocolError: Server disconnected", True),
        # httpx counts an unsupported scheme as a transport error (as the worker always recorded it).
        (httpx.UnsupportedProtocol("no ftp"), "UnsupportedProtocol: no ftp", True),
    ],
)
def test_httpx_failures_map_the_same_way(exc: Exception, text: str, unreachable: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    result = send(Sender(mock(handler)), OutboundRequest("POST", "https://h/up"))
    assert (result.status, result.error, result.unreachable) == (None, text, unreachable)  # type: ignore[attr-defined]


def test_a_url_httpx_cannot_parse_is_an_invalid_request() -> None:
    result = send(Sender(httpx.AsyncClient()), OutboundRequest("POST", "http://[::1/up"))
    assert result.status is None and not result.unreachable  # type: ignore[attr-defined]
    assert result.error.startswith("invalid request: ")  # type: ignore[attr-defined]


def test_the_fast_client_is_made_with_the_httpx_clients_timeout_and_user_agent() -> None:
    sender = Sender(httpx.AsyncClient(timeout=3.5, headers={"User-Agent": "iotcli-emulator/9"}))
    fast = sender.fast
    assert (fast.timeout, fast.user_agent) == (3.5, "iotcli-emulator/9")  # type: ignore[attr-defined]
