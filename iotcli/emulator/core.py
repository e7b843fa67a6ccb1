"""The Emulator: owns the store, the clock, the journals, the outbound HTTP client and the workers.

Route modules reach it as ``request.app.state.emu``; each surface attaches its service object
(``emu.services["thinger"]``...) in ``create_app``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from iotcli import __version__
from iotcli.delivery.worker import DeliveryWorker
from iotcli.emulator.auth import Authenticator, TokenSigner, hash_token, load_signing_key, new_secret
from iotcli.emulator.clock import EmulatorClock
from iotcli.emulator.events import EventJournal
from iotcli.emulator.settings import EmulatorSettings
from iotcli.store.db import Store

log = logging.getLogger("iotcli.emulator")

#: Tables ``POST /_emulator/reset`` keeps.
KEEP_ON_RESET = {"meta", "schema_versions", "sqlite_sequence"}
#: Journal rows one pruning job deletes at most (a few ms of the event loop each).
PRUNE_CHUNK = 5_000


class Emulator:
    def __init__(self, settings: EmulatorSettings, migrations: list[tuple[str, list[str]]]) -> None:
        self.settings = settings
        self.migrations = migrations
        self.signer = TokenSigner(load_signing_key(settings.data_dir), server_host(settings))
        #: SHA-256 of an opaque account token an older version generated: still accepted (see below).
        self.legacy_account_hashes: frozenset[str] = frozenset()
        self.account_token, self.legacy_account_hashes = resolve_account_token(settings, self.signer)
        db_path = None if settings.data_dir is None else settings.data_dir / "emulator.db"
        self.store = Store(db_path)
        self.clock = EmulatorClock(settings.time_scale)
        self.events = EventJournal(self)
        self.auth = Authenticator(self)
        self.http: httpx.AsyncClient | None = None
        self.deliveries: DeliveryWorker | None = None
        self.services: dict[str, Any] = {}
        #: Called after ``reset`` (drop caches); and at start/stop (background tasks of the surfaces).
        self.reset_hooks: list[Callable[[], None]] = []
        self.start_hooks: list[Callable[[], Awaitable[None]]] = []
        self.stop_hooks: list[Callable[[], Awaitable[None]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def worker(self) -> DeliveryWorker:
        assert self.deliveries is not None, "emulator not started"
        return self.deliveries

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.store.open(self.migrations)
        saved = self.store.run_sync(_last_known_time)
        if saved is not None and saved > self.clock.now():
            # Never let emulated time run backwards across a restart (timers are stored in it),
            # not even after a kill -9 that kept the clock from being saved.
            self.clock.advance(saved - self.clock.now())
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.settings.outbound_timeout),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
            trust_env=False,
            headers={"User-Agent": f"iotcli-emulator/{__version__}"},
            transport=self.settings.outbound_transport,
            verify=self._outbound_verify(),
        )
        self.deliveries = DeliveryWorker(
            self.store, self.clock, self.events, self.http, max_deliveries=self.settings.max_deliveries
        )
        self.deliveries.transport = self.settings.outbound_transport
        for hook in self.start_hooks:
            await hook()
        self.deliveries.start()
        self._tasks.append(asyncio.create_task(self._prune_loop(), name="journal-pruner"))

    def _outbound_verify(self) -> ssl.SSLContext | bool:
        """With ``--tls``: the system's CAs plus this emulator's own CA, so calls to its own https URLs
        (sinks, the downlinkUrl) verify; the CA signs only this emulator's certificate."""
        tls = self.settings.tls
        if tls is None:
            return True
        ctx = ssl.create_default_context()
        ctx.load_verify_locations(cafile=str(tls.ca_file))
        return ctx

    def begin_shutdown(self) -> None:
        """A stop was asked (signal handler): end the event streams now, so the server's drain is not held up."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.events.close)

    async def stop(self) -> None:
        self.events.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for hook in reversed(self.stop_hooks):
            with contextlib.suppress(Exception):
                await hook()
        if self.deliveries is not None:
            await self.deliveries.stop()
        if self.http is not None:
            await self.http.aclose()
        with contextlib.suppress(Exception):
            await self.prune_journals()  # the caps hold on disk too; saves the clock
        self.store.close()

    async def advance_clock(self, seconds: float) -> float:
        now = self.clock.advance(seconds)
        await self.store.write(lambda c: _meta_set(c, "clock_now", repr(now)))
        await self.events.record("clock.advanced", seconds=seconds, now=int(now * 1000))
        if self.deliveries is not None:
            self.deliveries.wake()
        return now

    async def reset(self) -> None:
        """Wipe all state except the account (and its token)."""

        def wipe(conn: sqlite3.Connection) -> None:
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                )
            ]
            for table in tables:
                if table not in KEEP_ON_RESET:
                    conn.execute(f'DELETE FROM "{table}"')

        await self.store.write(wipe)
        self.auth.clear()
        for hook in self.reset_hooks:
            hook()
        await self.events.record("emulator.reset")

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "user": self.settings.user,
            "in_memory": self.settings.in_memory,
            "time_scale": self.clock.scale,
            "now": self.clock.now_ms(),
        }

    async def prune_journals(self) -> dict[str, int]:
        """Apply the journal caps now: count (max_events, max_deliveries) and age (journal_max_age).

        Pending deliveries are never pruned. Expired OAuth tokens go a day after they expired.
        Also saves the clock, so a killed emulator restarts close to where its time was.
        The rows go in store jobs of at most ``PRUNE_CHUNK`` each: the store runs on the event loop,
        and one job deleting a few hundred thousand rows would hold every request for a second.
        """
        settings, now = self.settings, self.clock.now()
        cutoff = None if settings.journal_max_age is None else now - settings.journal_max_age

        def step(conn: sqlite3.Connection) -> dict[str, int]:
            counts = {
                "events": self.events.prune(conn, settings.max_events, PRUNE_CHUNK),
                "deliveries": DeliveryWorker.prune(conn, settings.max_deliveries, PRUNE_CHUNK),
            }
            if cutoff is not None:
                # Event ids grow with their time (the clock never runs backwards), so the first id at
                # or past the cutoff bounds the old ones: found by walking ids, no index on ts needed.
                first_kept = conn.execute(
                    "SELECT id FROM events WHERE ts >= ? ORDER BY id LIMIT 1", (int(cutoff * 1000),)
                ).fetchone()
                counts["events"] += conn.execute(
                    "DELETE FROM events WHERE id < MIN(?, (SELECT MIN(id) FROM events) + ?)",
                    (first_kept[0] if first_kept else 2**62, PRUNE_CHUNK),
                ).rowcount
                counts["deliveries"] += conn.execute(
                    "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE status != 'pending' "
                    "AND updated_at < ? ORDER BY id LIMIT ?)",
                    (cutoff, PRUNE_CHUNK),
                ).rowcount
            return counts

        def finish(conn: sqlite3.Connection) -> int:
            _meta_set(conn, "clock_now", repr(now))
            return int(
                conn.execute(
                    "DELETE FROM tokens WHERE kind IN ('oauth', 'refresh', 'iotflow') AND expires < ?",
                    (int((now - 86400) * 1000),),
                ).rowcount
            )

        totals = {"events": 0, "deliveries": 0}
        while True:
            counts = await self.store.write(step)
            for key, n in counts.items():
                totals[key] += n
            if max(counts.values()) < PRUNE_CHUNK:
                break
        result = {**totals, "tokens": await self.store.write(finish)}
        if result["tokens"]:
            self.auth.clear()
        return result

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.prune_every)
            try:
                await self.prune_journals()
            except Exception as exc:  # noqa: BLE001
                log.warning("journal pruning failed: %s", exc)


def _last_known_time(conn: sqlite3.Connection) -> float | None:
    """The latest emulated time the store has seen: the saved clock, or the newest journal entry."""
    saved = _meta_get(conn, "clock_now")
    times = [float(saved)] if saved is not None else []
    events = conn.execute("SELECT MAX(ts) FROM events").fetchone()[0]
    if events is not None:
        times.append(events / 1000)
    deliveries = conn.execute("SELECT MAX(updated_at) FROM deliveries").fetchone()[0]
    if deliveries is not None:
        times.append(float(deliveries))
    return max(times) if times else None


def _meta_get(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def _meta_set(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def server_host(settings: EmulatorSettings) -> str:
    """The emulator's host name as clients reach it, without port: the ``svr`` claim of its tokens."""
    from urllib.parse import urlsplit

    return urlsplit(settings.base_url).hostname or settings.host


def resolve_account_token(settings: EmulatorSettings, signer: TokenSigner) -> tuple[str, frozenset[str]]:
    """``(account token, hashes of older account tokens still accepted)``.

    ``--token``/env is used as given. Else the JWT kept in the data dir, else a new JWT (kept there; in
    memory: per run). An opaque token kept by an older version is upgraded: a JWT becomes the account
    token (clients that decode it need one) and the old token keeps working, only its SHA-256 kept
    (``legacy_token_sha256`` in account.json), so scripts holding it do not break [chosen].
    """
    if settings.token:
        return settings.token, frozenset()
    if settings.data_dir is None:
        return _new_account_token(settings, signer), frozenset()
    path = settings.data_dir / "account.json"
    info: dict[str, Any] = {}
    try:
        loaded = json.loads(path.read_text())
        if isinstance(loaded, dict) and loaded.get("user") == settings.user:
            info = loaded
    except (OSError, ValueError):
        pass
    legacy = {h for h in info.get("legacy_token_sha256", []) if isinstance(h, str)}
    kept = info.get("token")
    if isinstance(kept, str) and signer.claims(kept) is not None:
        return kept, frozenset(legacy)
    if isinstance(kept, str) and kept:
        legacy.add(hash_token(kept))
    token = _new_account_token(settings, signer)
    write_account_file(settings.data_dir, settings.user, token, sorted(legacy))
    return token, frozenset(legacy)


def _new_account_token(settings: EmulatorSettings, signer: TokenSigner) -> str:
    import time

    return signer.sign(user=settings.user, jti=new_secret(12), iat=int(time.time()))


def write_account_file(data_dir: Path, user: str, token: str, legacy_hashes: list[str] | None = None) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".account-", dir=data_dir)
    os.fchmod(fd, 0o600)
    info: dict[str, Any] = {"user": user, "token": token}
    if legacy_hashes:
        info["legacy_token_sha256"] = legacy_hashes
    with os.fdopen(fd, "w") as fh:
        json.dump(info, fh)
    os.replace(tmp, data_dir / "account.json")
