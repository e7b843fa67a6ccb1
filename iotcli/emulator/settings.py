"""Settings of one emulator instance (what `iotcli emulate` was started with)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_MAX_BODY = 256 * 1024


@dataclass
class EmulatorSettings:
    host: str = "127.0.0.1"
    port: int = 8100
    data_dir: Path | None = None  # None = in memory
    user: str = "local"
    token: str | None = None  # None = generated on first start and kept in data_dir
    time_scale: float = 1.0
    max_body: int = DEFAULT_MAX_BODY
    #: The journals are capped: the oldest entries beyond these counts are pruned.
    max_events: int = 100_000
    max_deliveries: int = 100_000
    #: ... and entries older than this many emulated seconds are pruned too (None = no age limit).
    journal_max_age: float | None = None
    #: How often (real seconds) the journals are pruned.
    prune_every: float = 30.0
    #: Outbound request timeout (seconds of real time) for forwards and endpoint calls.
    outbound_timeout: float = 10.0
    #: The base URL clients reach the emulator at (used in downlinkUrl); derived from host/port if None.
    public_url: str | None = None
    #: What strictMode does with a non-2xx answer: "resend" (3 resends 2 s apart, the seed's page) or
    #: "reconnect" (close the connection and apply reconnectStrategy, the current upstream page).
    strict_mode: str = "resend"
    #: Slow clients: a request (headers + body) must arrive within this many seconds of its first byte.
    request_timeout: float = 30.0
    #: Seconds an idle keep-alive connection stays open (uvicorn's --timeout-keep-alive).
    timeout_keep_alive: int = 5
    #: The largest request header block (bytes); a larger or never-finished one is cut off.
    max_header_size: int = 32 * 1024
    #: Tests: an ``httpx.AsyncBaseTransport`` every outbound request goes to instead of the network.
    outbound_transport: Any = None
    #: ``--tls``: the certificate files (iotcli.emulator.tls.TlsFiles) the port serves HTTPS with; None = plain HTTP.
    tls: Any = None

    @property
    def in_memory(self) -> bool:
        return self.data_dir is None

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host
        if host in {"0.0.0.0", "::", ""}:
            host = "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}"
