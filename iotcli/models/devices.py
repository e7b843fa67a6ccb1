"""HTTP devices (Thinger-style): the callback URL a device POSTs its JSON to (CONTRACT section 2)."""

from __future__ import annotations

from urllib.parse import quote


def callback_url(server: str, user: str, device: str) -> str:
    """``<server>/v3/users/<user>/devices/<device>/callback/data`` (the user escaped; the device is an id)."""
    return f"{server.rstrip('/')}/v3/users/{quote(user, safe='')}/devices/{device}/callback/data"
