"""Who is calling: the account token, OAuth access tokens, and device tokens.

Tokens come as ``Authorization: Bearer <token>`` or ``?authorization=<token>`` [source].
Missing or unknown -> 401; valid but not allowed for that user or device -> 403 [source].
Only SHA-256 hashes of issued tokens are stored; comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request

from iotcli.emulator.errors import ApiProblem

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator


@dataclass(frozen=True)
class Principal:
    kind: str  # 'account' | 'device'
    user: str
    device: str | None = None
    token_id: str | None = None


@dataclass
class TokenRecord:
    hash: str
    id: str
    kind: str
    user: str
    device: str | None
    expires: int | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_secret(nbytes: int = 32) -> str:
    """A URL-safe random token that does not start with ``-`` (so no command line takes it for an option)."""
    while True:
        token = secrets.token_urlsafe(nbytes)
        if not token.startswith("-"):
            return token


def token_from(request: Request) -> str | None:
    # The raw header list (ASGI servers lower-case the names): cheaper than building ``request.headers``
    # on the ingest hot path. The first Authorization header counts, as with ``headers.get``.
    header = ""
    for name, raw in request.scope["headers"]:
        if name == b"authorization":
            header = raw.decode("latin-1")
            break
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return None
    query = request.query_params.get("authorization")
    if query:
        # Accept "Bearer x" in the query too, as some HTTP clients copy the header value.
        if query.lower().startswith("bearer "):
            return query[7:].strip() or None
        return query
    return None


class Authenticator:
    """Resolves tokens to principals, with an in-memory cache invalidated on every change."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._account_hash = hash_token(emu.account_token)
        self._cache: dict[str, TokenRecord] = {}

    # -- issuing ------------------------------------------------------------------------------
    def issue(
        self,
        conn: sqlite3.Connection,
        *,
        kind: str,
        user: str,
        device: str | None = None,
        name: str | None = None,
        ttl_seconds: float | None = None,
        token_id: str | None = None,
    ) -> tuple[str, str]:
        """Create a token inside a store transaction; returns ``(id, secret)``. The secret is not kept."""
        secret = new_secret()
        now = self.emu.clock.now_ms()
        tid = token_id or secrets.token_hex(8)
        expires = None if ttl_seconds is None else now + int(ttl_seconds * 1000)
        conn.execute(
            "INSERT INTO tokens(hash, id, kind, user, device, name, created, expires) VALUES (?,?,?,?,?,?,?,?)",
            (hash_token(secret), tid, kind, user, device, name, now, expires),
        )
        return tid, secret

    def forget(self, user: str, device: str | None = None) -> None:
        """Drop cached tokens of a user (or of one device) after they changed in the store."""
        for key, rec in list(self._cache.items()):
            if rec.user == user and (device is None or rec.device == device):
                del self._cache[key]

    def clear(self) -> None:
        self._cache.clear()

    # -- resolving ----------------------------------------------------------------------------
    async def principal(self, request: Request) -> Principal:
        token = token_from(request)
        if token is None:
            raise ApiProblem(
                401, "missing token: send 'Authorization: Bearer <token>' or ?authorization=<token>"
            )
        digest = hash_token(token)
        if hmac.compare_digest(digest, self._account_hash):
            return Principal("account", self.emu.settings.user)
        rec = self._cache.get(digest)
        if rec is None:
            rec = await self.emu.store.read(lambda conn: _load(conn, digest))
            if rec is None:
                raise ApiProblem(401, "invalid token")
            self._cache[digest] = rec
        if rec.expires is not None and rec.expires <= self.emu.clock.now_ms():
            raise ApiProblem(401, "token expired")
        if rec.kind == "device":
            return Principal("device", rec.user, rec.device, rec.id)
        if rec.kind in ("oauth", "iotflow"):
            return Principal("account", rec.user, None, rec.id)
        raise ApiProblem(401, "this token cannot be used to call the API")

    async def account(self, request: Request, user: str | None = None) -> Principal:
        """Require the account (or an OAuth token of it) acting on ``user``."""
        p = await self.principal(request)
        if p.kind != "account":
            raise ApiProblem(403, "a device token can only post to its own device's callback")
        if user is not None and user != p.user:
            raise ApiProblem(403, f"token not allowed for user '{user}'")
        return p

    async def device_or_account(self, request: Request, user: str, device: str) -> Principal:
        """Account token of ``user``, or a token of exactly this device."""
        p = await self.principal(request)
        check_device_scope(p, user, device)
        return p

    def check_password(self, username: str, password: str) -> bool:
        """The account's password is its account token [chosen]."""
        return hmac.compare_digest(username.encode(), self.emu.settings.user.encode()) & hmac.compare_digest(
            hash_token(password), self._account_hash
        )


def check_device_scope(p: Principal, user: str, device: str) -> None:
    """403 unless ``p`` is the account of ``user`` or a token of exactly this device."""
    if p.user != user:
        raise ApiProblem(403, f"token not allowed for user '{user}'")
    if p.kind == "device" and p.device != device:
        raise ApiProblem(403, f"token not allowed for device '{device}'")


def _load(conn: sqlite3.Connection, digest: str) -> TokenRecord | None:
    row = conn.execute(
        "SELECT hash, id, kind, user, device, expires FROM tokens WHERE hash = ?", (digest,)
    ).fetchone()
    if row is None:
        return None
    return TokenRecord(row["hash"], row["id"], row["kind"], row["user"], row["device"], row["expires"])
