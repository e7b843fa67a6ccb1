"""The inspector's login sessions, CSRF tokens, Origin check and response headers.

A browser logs in with the account token once; it then holds only a random session id in an
HttpOnly, SameSite=Strict cookie (the token itself is never stored in the browser). Every action is
a POST that must carry the session's CSRF token and, when the browser sends one, an Origin equal to
the inspector's own. Sessions live in memory: a restarted emulator asks for the token again.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

COOKIE = "iotcli_inspector"
#: Sessions kept at most (the oldest goes first): a local tool has a handful of browsers.
MAX_SESSIONS = 64
#: Real seconds a session lasts.
SESSION_TTL = 12 * 3600.0

#: Sent with every inspector answer: no framing, no other origin reading it, no script but ours.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # "no-referrer" would make Chromium send "Origin: null" with our own form posts.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass
class Session:
    csrf: str
    created: float = field(default_factory=time.monotonic)
    flash: list[tuple[str, str]] = field(default_factory=list)


class Sessions:
    """``emu.services["ui"]``: the logged-in browsers."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._sessions: dict[str, Session] = {}

    def login(self, token: str) -> str | None:
        """A new session id when ``token`` is the account token, else None."""
        if not token or not self.emu.auth.check_password(self.emu.settings.user, token):
            return None
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = Session(csrf=secrets.token_urlsafe(32))
        return sid

    def logout(self, request: Request) -> None:
        self._sessions.pop(request.cookies.get(COOKIE, ""), None)

    def of(self, request: Request) -> Session | None:
        sid = request.cookies.get(COOKIE)
        if not sid:
            return None
        session = self._sessions.get(sid)
        if session is None:
            return None
        if time.monotonic() - session.created > SESSION_TTL:
            del self._sessions[sid]
            return None
        return session


def own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


def cross_site(request: Request) -> str | None:
    """Why this request comes from another site (None: it does not).

    ``Origin`` must be ours when present; without it, ``Sec-Fetch-Site`` (sent by every current
    browser) must not say cross-site. Clients that send neither are not browsers.
    """
    origin = request.headers.get("origin")
    if origin is not None:
        if origin != own_origin(request):
            return f"the request comes from another origin ({origin[:80]})"
        return None
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"the request comes from another site (Sec-Fetch-Site: {fetch_site[:20]})"
    return None


def csrf_ok(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(session.csrf.encode(), str(given).encode())
