"""Who is calling: the account token, OAuth access tokens, device tokens and user access tokens.

Tokens come as ``Authorization: Bearer <token>`` or ``?authorization=<token>`` [source].
Missing or unknown -> 401; valid but not allowed for that user or device -> 403 [source].
Only SHA-256 hashes of issued tokens are stored; comparisons are constant-time.

Every token the emulator issues is a JWT like the real server's (HS256; claims ``usr``, ``jti``, ``iat``,
``exp`` when it expires, ``dev`` on device tokens, ``svr``) [source: real clients decode ``usr``, and the
VS Code extension takes its host from ``svr``]. Requests are still resolved by the hash of the token as
sent (one dict lookup on the ingest hot path): the signature is what lets clients trust the claims, the
emulator itself trusts only its store.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt
from starlette.requests import Request

from iotcli.emulator.clock import EmulatorClock
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.permissions import ActionMap, Grant
from iotcli.emulator.settings import EmulatorSettings
from iotcli.store.db import Store


@dataclass(frozen=True)
class Principal:
    kind: str  # 'account' | 'device'
    user: str
    device: str | None = None
    token_id: str | None = None
    #: When the token stops working (epoch ms, emulator clock); None: never, or the account token.
    expires: int | None = None


@dataclass
class TokenRecord:
    hash: str
    id: str
    kind: str
    user: str
    device: str | None
    expires: int | None
    #: User access tokens: their permissions (None: disabled or gone).
    grant: Grant | None = None


#: The file in the data dir holding the JWT signing key (mode 0600).
SIGNING_KEY_FILE = "jwt-secret"


def load_signing_key(data_dir: Path | None) -> bytes:
    """The HS256 key: kept in the data dir (made on first start, owner-only), random per run in memory."""
    if data_dir is None:
        return secrets.token_bytes(32)
    path = data_dir / SIGNING_KEY_FILE
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = data_dir / f".{SIGNING_KEY_FILE}-{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    os.replace(tmp, path)
    return key


class TokenSigner:
    """Makes the emulator's JWTs. ``server`` is the ``svr`` claim: the emulator's host name, without port."""

    def __init__(self, key: bytes, server: str) -> None:
        self._key = key
        self.server = server

    def sign(
        self, *, user: str, jti: str, iat: int, exp: int | None = None, device: str | None = None
    ) -> str:
        claims: dict[str, Any] = {"usr": user, "jti": jti, "iat": iat, "svr": self.server}
        if exp is not None:
            claims["exp"] = exp
        if device is not None:
            claims["dev"] = device
        return jwt.encode(claims, self._key, algorithm="HS256")

    def claims(self, token: str) -> dict[str, Any] | None:
        """The claims of a token this emulator signed (expiry not checked: the store decides); else None."""
        try:
            decoded: dict[str, Any] = jwt.decode(
                token, self._key, algorithms=["HS256"], options={"verify_exp": False}
            )
        except jwt.InvalidTokenError:
            return None
        return decoded


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


class AuthHost(Protocol):
    """What the authenticator uses of the Emulator (a Protocol, so this module does not import ``core``)."""

    account_token: str
    legacy_account_hashes: frozenset[str]
    signer: TokenSigner
    clock: EmulatorClock
    settings: EmulatorSettings
    store: Store


class Authenticator:
    """Resolves tokens to principals, with an in-memory cache invalidated on every change."""

    def __init__(self, emu: AuthHost) -> None:
        self.emu = emu
        self._account_hash = hash_token(emu.account_token)
        #: Hashes of account tokens an older version generated (opaque): still accepted (see core.py).
        self._legacy_hashes: frozenset[str] = frozenset(getattr(emu, "legacy_account_hashes", ()))
        self._cache: dict[str, TokenRecord] = {}
        #: kind -> loader of the permissions of a token of that kind (the Thinger surface registers
        #: 'access', its user access tokens); called inside a store read with (conn, user, token id).
        self.grant_loaders: dict[str, Callable[[sqlite3.Connection, str, str], Grant | None]] = {}
        #: What each request is, for the permission check of user access tokens (set by the Thinger surface).
        self.actions: ActionMap | None = None

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
        expires_ms: int | None = None,
    ) -> tuple[str, str]:
        """Create a token inside a store transaction; returns ``(id, jwt)``. The token is not kept.

        It expires ``ttl_seconds`` from now, or at ``expires_ms`` (epoch ms), or never. ``jti`` is its id.
        """
        now = self.emu.clock.now_ms()
        tid = token_id or secrets.token_hex(8)
        expires = expires_ms
        if expires is None and ttl_seconds is not None:
            expires = now + int(ttl_seconds * 1000)
        secret = self.emu.signer.sign(
            user=user,
            jti=tid,
            iat=now // 1000,
            exp=None if expires is None else expires // 1000,
            device=device,
        )
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
        if hmac.compare_digest(digest, self._account_hash) or digest in self._legacy_hashes:
            return Principal("account", self.emu.settings.user)
        rec = self._cache.get(digest)
        if rec is None:
            rec = await self.emu.store.read(lambda conn: self._load(conn, digest))
            if rec is None:
                raise ApiProblem(401, "invalid token")
            self._cache[digest] = rec
        if rec.expires is not None and rec.expires <= self.emu.clock.now_ms():
            raise ApiProblem(401, "token expired")
        if rec.kind == "device":
            return Principal("device", rec.user, rec.device, rec.id, rec.expires)
        if rec.kind in ("oauth", "iotflow"):
            return Principal("account", rec.user, None, rec.id)
        if rec.kind == "access":
            self._check_grant(rec, request)
            return Principal("account", rec.user, None, rec.id)
        raise ApiProblem(401, "this token cannot be used to call the API")

    def _check_grant(self, rec: TokenRecord, request: Request) -> None:
        """A user access token: enabled, and its permissions allow what this request does (else 401/403)."""
        if rec.grant is None:
            raise ApiProblem(401, f"access token '{rec.id}' is disabled")
        act = None if self.actions is None else self.actions.resolve(request.method, request.scope["path"])
        if not rec.grant.permits(act, rec.user):
            what = (
                act.describe()
                if act is not None
                else f"{request.method} {request.scope['path']} (admin tokens only)"
            )
            raise ApiProblem(403, f"access token '{rec.id}' is not allowed: {what}")

    def _load(self, conn: sqlite3.Connection, digest: str) -> TokenRecord | None:
        rec = _load(conn, digest)
        if rec is not None and rec.kind in self.grant_loaders:
            rec.grant = self.grant_loaders[rec.kind](conn, rec.user, rec.id)
        return rec

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
        digest = hash_token(password)
        return hmac.compare_digest(username.encode(), self.emu.settings.user.encode()) & (
            hmac.compare_digest(digest, self._account_hash) | (digest in self._legacy_hashes)
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
