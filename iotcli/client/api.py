"""The full API client: one class assembled from the per-surface method sets."""

from __future__ import annotations

import ssl

import httpx

from iotcli import __version__
from iotcli.client.emulator import EmulatorMethods
from iotcli.client.iotflow import IotFlowMethods
from iotcli.client.thinger import ThingerMethods


class ApiClient(ThingerMethods, IotFlowMethods, EmulatorMethods):
    """Typed access to a server that speaks the iotcli contract (the emulator or a real platform)."""


def make_http_client(
    server: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """The httpx.Client the CLI uses: base URL, timeout, a User-Agent naming iotcli.

    For an http:// server no TLS can happen (paths are relative to it, redirects are not followed),
    so the client gets an empty TLS context instead of loading the CA bundle (~30 ms of start-up);
    it trusts nothing, should an https URL ever reach it.
    """
    verify: ssl.SSLContext | bool = True
    if server.startswith("http://"):
        verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return httpx.Client(
        base_url=server,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        headers={"User-Agent": f"iotcli/{__version__}"},
        transport=transport,
        follow_redirects=False,
        verify=verify,
    )
