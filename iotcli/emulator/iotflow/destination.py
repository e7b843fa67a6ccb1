"""Where a connection's requests go and how long its uplinks stay valid: read from its configuration."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(text: str | None) -> float | None:
    """``uplinkTimeValidity`` (``30s``, ``5m``, ``2h``, ``1d``) in seconds; None when not set."""
    if not text:
        return None
    return float(int(text[:-1]) * UNITS[text[-1]])


def proxy_url(proxy: dict[str, Any]) -> str:
    """``{hostname, username, password}`` as ``scheme://user:pass@host:port`` for the HTTP client."""
    hostname = str(proxy["hostname"])
    if "://" not in hostname:
        hostname = "http://" + hostname
    parts = urlsplit(hostname)
    netloc = parts.netloc or parts.path.strip("/")
    creds = ""
    if proxy.get("username"):
        creds = quote(str(proxy["username"]), safe="")
        if proxy.get("password"):
            creds += ":" + quote(str(proxy["password"]), safe="")
        creds += "@"
    return f"{parts.scheme}://{creds}{netloc}"
