"""The full API client: one class assembled from the per-surface method sets."""

from __future__ import annotations

import ssl

import httpx

from iotcli import __version__
from iotcli.client.emulator import EmulatorMethods
from iotcli.client.iotflow import IotFlowMethods
from iotcli.client.thinger import ThingerMethods


def ssl_context(ca_file: str) -> ssl.SSLContext:
    """A verifying TLS context that trusts the CA(s) in ``ca_file``; a file that cannot be read is a ConfigError."""
    from iotcli.errors import ConfigError

    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot use the CA file {ca_file}: {getattr(exc, 'strerror', None) or exc}",
            hint="check --ca-file / IOTCLI_CA_FILE / the profile's ca_file",
        ) from None


class ApiClient(ThingerMethods, IotFlowMethods, EmulatorMethods):
    """Typed access to a server that speaks the iotcli contract (the emulator or a real platform)."""


def make_http_client(
    server: str,
    *,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
    ca_file: str | None = None,
) -> httpx.Client:
    """The httpx.Client the CLI uses: base URL, timeout, a User-Agent naming iotcli.

    For an http:// server no TLS can happen (paths are relative to it, redirects are not followed),
    so the client gets an empty TLS context instead of loading the CA bundle (~30 ms of start-up);
    it trusts nothing, should an https URL ever reach it. With ``ca_file`` (``--ca-file``, or the CA of
    a local ``iotcli emulate --tls``) the server's certificate must chain to that CA (as ``curl --cacert``).
    """
    verify: ssl.SSLContext | bool = True
    if ca_file:
        verify = ssl_context(ca_file)
    elif server.startswith("http://"):
        verify = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return httpx.Client(
        base_url=server,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        headers={"User-Agent": f"iotcli/{__version__}"},
        transport=transport,
        follow_redirects=False,
        verify=verify,
    )
