"""The conditions ``wait_for`` waits for: each reads the state it is about through the API client
(``check``) and says which journal events may change it (``relevant``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from iotcli.client.api import ApiClient


@dataclass
class Observation:
    """What a check found: whether the condition holds, and what was seen (for people and scripts)."""

    done: bool
    seen: str
    data: Any = None


class Condition(Protocol):
    def describe(self) -> str:
        """``sink 'app' to get 3 requests``: what is waited for."""
        ...

    def check(self, api: ApiClient) -> Observation: ...

    def relevant(self, event: dict[str, Any]) -> bool:
        """May this journal event change the answer of ``check``?"""
        ...

    #: The journal records every change this condition is about (no periodic re-check needed).
    stream_tells: bool


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def get_field(obj: Any, path: str) -> Any:
    """``DevEUI_uplink.FPort`` or ``items.0.name`` from a decoded JSON document (``KeyError`` if absent)."""
    value = obj
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(path)
    return value


def value_matches(actual: Any, expected: str) -> bool:
    """``expected`` as given on a command line: JSON when it parses (``2``, ``true``), else a string."""
    try:
        wanted = json.loads(expected)
    except ValueError:
        wanted = expected
    return bool(actual == wanted or str(actual) == expected)


@dataclass
class SinkRequests:
    """A sink received at least ``count`` requests (those with a header, or a JSON field, of a value)."""

    name: str
    count: int = 1
    header: tuple[str, str | None] | None = None  # (name, value or None for "present")
    json_field: tuple[str, str] | None = None  # (dotted path, value)
    stream_tells: bool = True

    def describe(self) -> str:
        what = f"sink '{self.name}' to get {_plural(self.count, 'request')}"
        return what + self._filters()

    def _filters(self) -> str:
        parts = []
        if self.header is not None:
            parts.append(self.header[0] + ("" if self.header[1] is None else f"={self.header[1]}"))
        if self.json_field is not None:
            parts.append(f"{self.json_field[0]}={self.json_field[1]}")
        return f" matching {' and '.join(parts)}" if parts else ""

    def matches(self, request: dict[str, Any]) -> bool:
        if self.header is not None:
            headers = {k.lower(): v for k, v in (request.get("headers") or {}).items()}
            name, value = self.header
            if name.lower() not in headers or (value is not None and headers[name.lower()] != value):
                return False
        if self.json_field is not None:
            try:
                actual = get_field(request.get("json"), self.json_field[0])
            except KeyError:
                return False
            if not value_matches(actual, self.json_field[1]):
                return False
        return True

    def check(self, api: ApiClient) -> Observation:
        if self.header is None and self.json_field is None:
            total = int(api.get_sink(self.name).get("requests") or 0)
            return Observation(total >= self.count, f"{_plural(total, 'request')}", {"requests": total})
        found: list[dict[str, Any]] = []
        after = 0
        while True:
            page = api.sink_requests(self.name, after=after, limit=10_000, secrets=self.header is not None)
            found += [r for r in page if self.matches(r)]
            if len(page) < 10_000:
                break
            after = page[-1]["id"]
        seen = f"{_plural(len(found), 'request')}{self._filters()}"
        return Observation(len(found) >= self.count, seen, {"requests": len(found)})

    def relevant(self, event: dict[str, Any]) -> bool:
        return str(event.get("kind", "")).startswith("sink.") and event.get("sink") == self.name


@dataclass
class Deliveries:
    """At least ``count`` deliveries are in ``status`` (optionally of one connection, device or kind)."""

    status: str
    count: int = 1
    connection: str | None = None
    device: str | None = None
    kind: str | None = None
    # Endpoint calls that succeed leave no event: look again now and then.
    stream_tells: bool = False

    def describe(self) -> str:
        scope = "".join(
            f" of {k} '{v}'"
            for k, v in (("connection", self.connection), ("device", self.device), ("kind", self.kind))
            if v
        )
        noun = "delivery" if self.count == 1 else "deliveries"
        return f"{self.count} {noun}{scope} to be {self.status}"

    def check(self, api: ApiClient) -> Observation:
        rows = api.list_deliveries(
            connection=self.connection, device=self.device, kind=self.kind, limit=10_000
        )
        counts: dict[str, int] = {}
        for row in rows:
            counts[str(row.get("status"))] = counts.get(str(row.get("status")), 0) + 1
        n = counts.get(self.status, 0)
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no deliveries"
        return Observation(n >= self.count, summary, {"counts": counts})

    def relevant(self, event: dict[str, Any]) -> bool:
        return str(event.get("kind", "")).startswith(
            ("delivery.", "endpoint.", "callback.", "uplink", "sink.")
        )


@dataclass
class BucketRecords:
    """A bucket holds at least ``count`` records."""

    bucket: str
    count: int = 1
    # Records written through the API leave no event: look again now and then.
    stream_tells: bool = False

    def describe(self) -> str:
        return f"bucket '{self.bucket}' to hold {_plural(self.count, 'record')}"

    def check(self, api: ApiClient) -> Observation:
        n = 0
        for page in api.iter_bucket(self.bucket, page_size=max(1, min(self.count, 1000))):
            n += len(page)
            if n >= self.count:
                break
        return Observation(n >= self.count, f"{_plural(n, 'record')}", {"records": n})

    def relevant(self, event: dict[str, Any]) -> bool:
        return str(event.get("kind", "")).startswith(("callback.", "bucket."))


@dataclass
class DeviceConnection:
    """A device is connected (or disconnected)."""

    device: str
    connected: bool = True
    stream_tells: bool = True

    def describe(self) -> str:
        return f"device '{self.device}' to be {'connected' if self.connected else 'disconnected'}"

    def check(self, api: ApiClient) -> Observation:
        stats = api.device_stats(self.device)
        now = bool(stats.get("connected"))
        return Observation(now == self.connected, "connected" if now else "disconnected", stats)

    def relevant(self, event: dict[str, Any]) -> bool:
        return event.get("device") == self.device or event.get("kind") in {"clock.advanced", "emulator.reset"}


@dataclass
class Downlinks:
    """At least ``count`` LoRaWAN downlinks (of one device) are in ``status`` (queued, sent, rejected, expired)."""

    status: str
    count: int = 1
    deveui: str | None = None
    stream_tells: bool = True

    def describe(self) -> str:
        of = f" of {self.deveui}" if self.deveui else ""
        return f"{_plural(self.count, 'downlink')}{of} to be {self.status}"

    def check(self, api: ApiClient) -> Observation:
        rows = api.list_lorawan_downlinks(deveui=self.deveui) or []
        counts: dict[str, int] = {}
        for row in rows:
            counts[str(row.get("status"))] = counts.get(str(row.get("status")), 0) + 1
        summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "no downlinks"
        return Observation(counts.get(self.status, 0) >= self.count, summary, {"counts": counts})

    def relevant(self, event: dict[str, Any]) -> bool:
        return str(event.get("kind", "")).startswith(
            ("downlink.", "uplink", "sink.downlink", "emulator.reset")
        )


@dataclass
class EventSeen:
    """At least ``count`` events of a kind (or kind prefix) are in the journal (after an id)."""

    kind: str
    count: int = 1
    after: int | None = None
    stream_tells: bool = True

    def describe(self) -> str:
        return f"{_plural(self.count, 'event')} '{self.kind}'" + (
            f" after #{self.after}" if self.after else ""
        )

    def check(self, api: ApiClient) -> Observation:
        found = api.list_events(kind=self.kind, after=self.after or 0, limit=max(self.count, 1))
        if len(found) >= self.count:
            return Observation(True, f"{_plural(len(found), 'event')} '{self.kind}'", found[: self.count])
        last = api.list_events(limit=1)
        tail = (
            f"; the last event is #{last[-1]['id']} {last[-1]['kind']}" if last else "; the journal is empty"
        )
        return Observation(False, f"{_plural(len(found), 'event')} '{self.kind}'{tail}", found)

    def relevant(self, event: dict[str, Any]) -> bool:
        kind = str(event.get("kind", ""))
        return kind == self.kind or kind.startswith(self.kind + ".") or kind == "emulator.reset"
