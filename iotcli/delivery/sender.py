"""The one outbound path of the delivery worker: an ``OutboundRequest`` in, an ``AttemptResult`` out.

Two HTTP clients, one error mapping:

- the fast HTTP/1.1 client (``lean_http.LeanHttpClient``) for plain ``http://`` requests marked
  ``lean`` without a proxy (the uplink forwarder's thousands of small POSTs);
- httpx for everything else (https, proxies, endpoint calls), and for every request when tests give
  the emulator an ``outbound_transport``.

Both raise ``protocols.SendError`` (httpx's exceptions are translated here), and ``send`` turns any
of them into the failed attempt the journal records. Tests can inject their own fast client
(anything with the ``protocols.HttpClient`` shape).
"""

from __future__ import annotations

import time

import httpx

from iotcli.delivery.lean_http import LeanHttpClient
from iotcli.delivery.outbox import AttemptResult, OutboundRequest
from iotcli.delivery.protocols import (
    Answer,
    AnswerTimeout,
    HttpClient,
    InvalidRequest,
    SendError,
    TransportFailed,
)


class HttpxClient:
    """An ``httpx.AsyncClient`` with the ``HttpClient`` shape: its failures raised as ``SendError``."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes,
        params: dict[str, str] | None = None,
    ) -> Answer:
        try:
            response = await self.client.request(
                method, url, headers=headers, content=body or None, params=params or None
            )
        except httpx.TimeoutException as exc:
            raise AnswerTimeout(type(exc).__name__) from None
        except httpx.TransportError as exc:
            raise TransportFailed(f"{type(exc).__name__}: {exc}") from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            raise InvalidRequest(str(exc)) from None
        return Answer(response.status_code, response.content, response.encoding or "utf-8")

    async def aclose(self) -> None:
        await self.client.aclose()


class Sender:
    """Sends each attempt through the right client and measures it; never raises for network trouble."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        fast: HttpClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.http = http
        self._httpx = HttpxClient(http)
        #: Tests replace the network with this transport (proxied requests included; no fast client).
        self.transport = transport
        self._fast = fast
        self._proxied: dict[str, HttpxClient] = {}

    @property
    def fast(self) -> HttpClient:
        """The fast HTTP/1.1 client (made on first use, with the httpx client's timeout and User-Agent)."""
        if self._fast is None:
            timeout = self.http.timeout.read or self.http.timeout.connect or 10.0
            self._fast = LeanHttpClient(timeout, self.http.headers.get("user-agent", "iotcli-emulator"))
        return self._fast

    def client_for(self, req: OutboundRequest) -> HttpClient:
        if req.proxy is not None:
            return self._proxy_client(req.proxy)
        if req.lean and self.transport is None and req.url.startswith("http://"):
            return self.fast
        return self._httpx

    async def send(self, req: OutboundRequest) -> AttemptResult:
        start = time.perf_counter()
        try:
            answer = await self.client_for(req).request(
                req.method, req.url, req.headers, req.body, req.params or None
            )
        except SendError as exc:
            return AttemptResult(
                req, None, None, (time.perf_counter() - start) * 1000, exc.error, exc.unreachable
            )
        except ValueError as exc:  # e.g. a URL the client cannot parse
            return AttemptResult(
                req, None, None, (time.perf_counter() - start) * 1000, f"invalid request: {exc}"
            )
        return AttemptResult(req, answer.status, answer.text, (time.perf_counter() - start) * 1000)

    def _proxy_client(self, proxy: str) -> HttpxClient:
        client = self._proxied.get(proxy)
        if client is None:
            client = HttpxClient(
                httpx.AsyncClient(
                    proxy=None if self.transport else proxy,
                    transport=self.transport,
                    timeout=self.http.timeout,
                    trust_env=False,
                )
            )
            self._proxied[proxy] = client
        return client

    async def aclose(self) -> None:
        """Close the clients this sender made (the httpx client it was given is its owner's)."""
        for client in self._proxied.values():
            await client.aclose()
        self._proxied.clear()
        if self._fast is not None:
            await self._fast.aclose()
