"""What the thinger backend keeps in memory for the hot path, and the store reads that fill it.

Every change to devices, buckets and endpoints goes through the backend, which drops the cached entry
after committing it; ``POST /_emulator/reset`` drops them all (``Caches.clear``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from iotcli.emulator.auth import Principal
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import MAX_EPOCH_MS

if TYPE_CHECKING:
    from iotcli.store.db import Store

V = TypeVar("V")

#: Minutes without a call after which an HTTP device is disconnected, unless its callback sets one [source].
DEFAULT_TIMEOUT_MINUTES = 10

#: Retention units -> seconds (a month is 30 days, a year 365 days) [chosen].
RETENTION_UNITS = {
    "hours": 3600,
    "days": 86400,
    "weeks": 7 * 86400,
    "months": 30 * 86400,
    "years": 365 * 86400,
}

#: Bucket sources that take data from callbacks and API writes [source].
WRITABLE_SOURCES = {"api", "write"}


@dataclass
class DeviceInfo:
    """What the ingest path needs to know about a device, cached in memory."""

    user: str
    device: str
    type: str
    enabled: bool
    callback: dict[str, Any] = field(default_factory=dict)
    #: The callback's actions and timeout (ms, None = never), worked out once.
    actions: dict[str, str] = field(init=False)
    timeout_ms: int | None = field(init=False)

    def __post_init__(self) -> None:
        self.actions = self.callback.get("actions") or {}
        self.timeout_ms = timeout_ms(self.callback)


def timeout_ms(callback: dict[str, Any] | None) -> int | None:
    props = (callback or {}).get("properties") or {}
    minutes = props.get("timeout", DEFAULT_TIMEOUT_MINUTES)
    if not isinstance(minutes, int | float) or isinstance(minutes, bool) or minutes <= 0:
        return None  # 0 or less: never time out [chosen]
    return int(minutes * 60_000)


@dataclass
class BucketInfo:
    user: str
    bucket: str
    source: str
    enabled: bool
    retention_ms: int | None

    @property
    def writable(self) -> bool:
        return self.source in WRITABLE_SOURCES


def retention_ms(doc: dict[str, Any]) -> int | None:
    retention = doc.get("retention") or {}
    period = retention.get("period")
    if not isinstance(period, int) or isinstance(period, bool) or period <= 0:
        return None  # 0 or none: keep everything [source: "0 for unlimited retention"]
    unit = retention.get("unit") or "days"
    # A period longer than any clock can cover keeps everything (and keeps the cutoff in range).
    return min(period * RETENTION_UNITS.get(unit, 86400) * 1000, MAX_EPOCH_MS)


class ReadThrough(Generic[V]):
    """A memory cache of ``load(conn, user, name)`` by (user, name), read from the store on a miss.

    Misses (None) are not cached; the backend ``forget``s an entry after committing a change to it.
    """

    def __init__(self, store: Store, load: Callable[[sqlite3.Connection, str, str], V | None]) -> None:
        self._store = store
        self._load = load
        self._entries: dict[tuple[str, str], V] = {}

    def cached(self, user: str, name: str) -> V | None:
        return self._entries.get((user, name))

    async def get(self, user: str, name: str) -> V | None:
        value = self._entries.get((user, name))
        if value is None:
            value = await self._store.read(lambda c: self._load(c, user, name))
            if value is not None:
                self._entries[(user, name)] = value
        return value

    def forget(self, user: str, name: str) -> None:
        self._entries.pop((user, name), None)

    def clear(self) -> None:
        self._entries.clear()


class Caches:
    """The memory the backend keeps beside the store (``ThingerBackend.caches``)."""

    def __init__(self, store: Store) -> None:
        self.devices = ReadThrough(store, load_device_info)
        self.buckets = ReadThrough(store, load_bucket_info)
        self.endpoints = ReadThrough(store, load_endpoint_doc)
        #: Last emulated ms a bucket's old records were pruned (retention), so writes prune rarely.
        self.pruned_at: dict[tuple[str, str], int] = {}
        #: Device token id -> emulated ms its last_used was last written (written at most once a second).
        self.token_used: dict[str, int] = {}
        #: Callback auth by the token as sent: token -> (principal, expires ms or None). Only the account
        #: token and device tokens; emptied whenever a device token is revoked or a device deleted.
        self.callback_tokens: dict[str, tuple[Principal, int | None]] = {}

    def forget_bucket(self, user: str, bucket: str) -> None:
        self.buckets.forget(user, bucket)
        self.pruned_at.pop((user, bucket), None)

    def clear(self) -> None:
        self.devices.clear()
        self.buckets.clear()
        self.endpoints.clear()
        self.pruned_at.clear()
        self.token_used.clear()
        self.callback_tokens.clear()


def load_device_info(conn: sqlite3.Connection, user: str, device: str) -> DeviceInfo | None:
    row = conn.execute(
        "SELECT type, doc, callback FROM th_devices WHERE user = ? AND device = ?", (user, device)
    ).fetchone()
    if row is None:
        return None
    doc = json.loads(row["doc"])
    callback = json.loads(row["callback"]) if row["callback"] else {}
    return DeviceInfo(user, device, row["type"], bool(doc.get("enabled", True)), callback)


def load_bucket_info(conn: sqlite3.Connection, user: str, bucket: str) -> BucketInfo | None:
    row = conn.execute("SELECT doc FROM th_buckets WHERE user = ? AND bucket = ?", (user, bucket)).fetchone()
    if row is None:
        return None
    doc = json.loads(row["doc"])
    source = str((doc.get("config") or {}).get("source", "api"))
    return BucketInfo(user, bucket, source, bool(doc.get("enabled", True)), retention_ms(doc))


def load_endpoint_doc(conn: sqlite3.Connection, user: str, endpoint: str) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT doc FROM th_endpoints WHERE user = ? AND endpoint = ?", (user, endpoint)
    ).fetchone()
    if row is None:
        return None
    doc: dict[str, Any] = json.loads(row["doc"])
    return doc


def not_found(what: str, ident: str) -> ApiProblem:
    return ApiProblem(404, f"{what} '{ident}' not found")


def exists(conn: sqlite3.Connection, table: str, column: str, user: str, ident: str) -> bool:
    row = conn.execute(f"SELECT 1 FROM {table} WHERE user = ? AND {column} = ?", (user, ident)).fetchone()
    return row is not None


def require_device(conn: sqlite3.Connection, user: str, device: str) -> None:
    """404 naming the device unless it exists."""
    if not exists(conn, "th_devices", "device", user, device):
        raise not_found("device", device)
