"""HTTP connections: the stored model, its API view, and the service that owns their state.

Connection states are the real ones [source: actility/tpx-iot-flow-doc,
docs/Getting_Started/Setting_Up_A_Connection_instance/About_connections.md]: ``OPENING``, ``OPENED``,
``CLOSED``, ``AUTHENTICATING``, ``AUTHENTICATION_FAILED``, ``UNREACHABLE``, ``DEACTIVATED``.

- A new, re-activated or replaced connection starts ``CLOSED``, turns ``OPENING`` after
  ``STARTUP_CLOSED`` and ``OPENED`` after ``STARTUP_OPENING`` more emulated seconds (the page: "the
  connection can remain on CLOSED state during a short period before changing to OPENING") [source;
  the durations are chosen]. An HTTP connection has no link to set up, so a message that is due
  while it starts opens it at once [chosen]: the first uplink is never delayed.
- ``CLOSED`` with a reason: the destination could not be reached (or, with ``--strict-mode
  reconnect``, refused a message); reconnect attempts follow ``reconnectStrategy`` and uplinks wait, in
  order [source: docs/Connector/HTTP/README.md "the connection is CLOSED and the connection retry
  strategy is applied"].
- ``DEACTIVATED``: ``active: false``; nothing is forwarded.
- ``AUTHENTICATING``, ``AUTHENTICATION_FAILED`` and ``UNREACHABLE`` (the bridge hosting the
  connection is unreachable) belong to connectors that log in, or to the platform's own outages: the
  HTTP connector of the emulator never enters them [chosen].

Ids have the documented form, a number as a string (``"id": "8"``, Creating_a_connection_instance_
using_the_API.md), separate from the downlink UUID of ``downlinkUrl`` (``/iot-flow/downlinkMessages/
<DownlinkUUID>``, docs/Other/TPX_IOT_FLOW_17X/README.md). Connections stored by an earlier version keep
their 32-hex id, and their downlink UUID is that id's dashed form (migration 2).

Every connection lives in SQLite and in an in-memory cache that is updated by the same code paths,
so the forwarding policy can read it without a store round trip per uplink.
"""

from __future__ import annotations

import builtins
import json
import logging
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from iotcli.delivery.outbox import DROPPED, PENDING
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.iotflow.connector_schema import (
    CONNECTOR_ID,
    STORED_TOP_LEVEL,
    CheckedConnection,
    keep_secrets,
    mask,
    open_as_key,
    seal_as_key,
    validate_connection,
    with_defaults,
)

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

log = logging.getLogger("iotcli.emulator")

OPENING, OPENED, CLOSED = "OPENING", "OPENED", "CLOSED"
AUTHENTICATING, AUTHENTICATION_FAILED = "AUTHENTICATING", "AUTHENTICATION_FAILED"
UNREACHABLE, DEACTIVATED = "UNREACHABLE", "DEACTIVATED"
STATES = (OPENING, OPENED, CLOSED, AUTHENTICATING, AUTHENTICATION_FAILED, UNREACHABLE, DEACTIVATED)

#: Emulated seconds a starting connection stays CLOSED, then OPENING [chosen].
STARTUP_CLOSED = 0.5
STARTUP_OPENING = 0.5
#: ``state_reason`` of a connection that is starting (CLOSED or OPENING on its way to OPENED).
STARTING = "starting"


def iso_time(ts: float) -> str:
    """ISO 8601 with milliseconds and a numeric offset, as IoT Flow messages write ``Time``."""
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+00:00"


@dataclass
class Connection:
    id: str
    user: str
    name: str
    active: bool
    configuration: dict[str, Any]
    state: str
    startup_time: float
    created: float
    modified: float
    connector_id: str = CONNECTOR_ID
    alarms: Any = None
    state_reason: str | None = None
    closed_at: float | None = None
    #: The UUID of ``downlinkUrl`` (dashed, lower case).
    downlink_uuid: str = ""
    #: Top-level fields stored as given (``brand``, ``contentType``, keys no document knows).
    top_level: dict[str, Any] = field(default_factory=dict)
    #: In memory only: after a reconnect, deliveries up to this id are sent one at a time (in order).
    drain_upto: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def uuid(self) -> str:
        """The dashed UUID used in ``downlinkUrl``."""
        return self.downlink_uuid

    @property
    def strict(self) -> bool:
        return bool(self.configuration.get("strictMode"))

    @property
    def starting(self) -> bool:
        """Started (created, re-activated, replaced) and not OPENED yet."""
        return self.active and self.state in (CLOSED, OPENING) and self.state_reason == STARTING

    def to_api(self, base_url: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "connectorId": self.connector_id,
            "name": self.name,
            "active": self.active,
            "startupTime": iso_time(self.startup_time),
            "state": self.state,
            "configuration": mask(self.configuration),
        }
        if self.alarms is not None:
            data["alarms"] = self.alarms
        for key, value in self.top_level.items():
            data.setdefault(key, value)
        if base_url is not None:
            data["downlinkUrl"] = f"{base_url}/iot-flow/downlinkMessages/{self.downlink_uuid}"
        return data

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Connection:
        return cls(
            id=row["id"],
            user=row["user"],
            name=row["name"],
            active=bool(row["active"]),
            configuration=open_as_key(json.loads(row["configuration"])),
            state=row["state"],
            startup_time=row["startup_time"] / 1000,
            created=row["created"] / 1000,
            modified=row["modified"] / 1000,
            connector_id=row["connector_id"],
            alarms=None if row["alarms"] is None else json.loads(row["alarms"]),
            state_reason=row["state_reason"],
            closed_at=row["closed_at"],
            downlink_uuid=row["downlink_uuid"] or "",
            top_level=json.loads(row["top_level"]) if row["top_level"] else {},
        )


def normalize_connection_id(raw: str) -> str | None:
    """A 32-hex id (an earlier version's form) from itself or its dashed UUID form; None otherwise."""
    try:
        return uuid.UUID(raw).hex if len(raw) in (32, 36) else None
    except ValueError:
        return None


def dashed_uuid(raw: str) -> str | None:
    """The dashed lower-case form of a UUID given with or without dashes; None if it is not one."""
    try:
        return str(uuid.UUID(raw)) if len(raw) in (32, 36) else None
    except ValueError:
        return None


class ConnectionService:
    """Create, read, replace and delete connections; track their state."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.cache: dict[str, Connection] = {}
        self.by_uuid: dict[str, Connection] = {}

    # -- life cycle ---------------------------------------------------------------------------
    async def load(self) -> None:
        rows = await self.emu.store.read(
            lambda c: c.execute("SELECT * FROM iotflow_connections ORDER BY created, id").fetchall()
        )
        self.cache = {r["id"]: Connection.from_row(r) for r in rows}
        self.by_uuid = {c.downlink_uuid: c for c in self.cache.values()}
        now = self.emu.clock.now()
        for conn in self.cache.values():
            if conn.starting:
                # Stopped while starting: it finishes opening as soon as the monitor runs.
                conn.extra["startup"] = (now, now)

    def clear(self) -> None:
        self.cache.clear()
        self.by_uuid.clear()

    # -- reads --------------------------------------------------------------------------------
    def list(self, user: str) -> list[Connection]:
        return sorted((c for c in self.cache.values() if c.user == user), key=_order)

    def get(self, user: str, cid: str) -> Connection:
        conn = self.cache.get(cid)
        if conn is None:
            norm = normalize_connection_id(cid)
            conn = self.cache.get(norm) if norm else None
        if conn is None or conn.user != user:
            raise ApiProblem(404, f"connection '{cid[:64]}' not found")
        return conn

    def by_downlink_uuid(self, raw: str) -> Connection | None:
        """The connection whose ``downlinkUrl`` ends with ``raw`` (dashes optional), or None."""
        key = dashed_uuid(raw)
        return self.by_uuid.get(key) if key else None

    # -- writes -------------------------------------------------------------------------------
    async def create(self, user: str, body: Any) -> tuple[Connection, CheckedConnection]:
        checked = validate_connection(body)
        data = checked.body
        now = self.emu.clock.now()
        active = bool(data.get("active", True))
        conn = Connection(
            id="",
            user=user,
            name=data["name"],
            active=active,
            configuration=with_defaults(data["configuration"]),
            state=CLOSED if active else DEACTIVATED,
            state_reason=STARTING if active else None,
            startup_time=now,
            created=now,
            modified=now,
            alarms=data.get("alarms"),
            downlink_uuid=str(uuid.uuid4()),
            top_level=_top_level(data, checked),
        )

        def write(c: sqlite3.Connection) -> list[dict[str, Any]]:
            conn.id = _next_id(c)
            _insert(c, conn)
            events = [
                self.emu.events.stage(
                    c, "connection.created", {"connection": conn.id, "name": conn.name, "state": conn.state}
                )
            ]
            events += self._notes(c, conn, checked)
            return events

        events = await self.emu.store.write(write)
        self._cache(conn)
        if active:
            self._start(conn, now)
        self.emu.events.publish(*events)
        self._log_unknown(conn, checked)
        return conn, checked

    async def replace(self, user: str, cid: str, body: Any) -> tuple[Connection, CheckedConnection]:
        """PUT: the whole connection again. ``"*****"`` keeps a stored secret."""
        old = self.get(user, cid)
        if isinstance(body, dict) and isinstance(body.get("configuration"), dict):
            body = {**body, "configuration": keep_secrets(body["configuration"], old.configuration)}
        stored_tiak = old.configuration.get("tiak")
        checked = validate_connection(body, stored_tiak if isinstance(stored_tiak, str) else None)
        data = checked.body
        if (
            "id" in body
            and str(body["id"]) not in (old.id, old.downlink_uuid)
            and (normalize_connection_id(str(body["id"])) != old.id)
        ):
            raise ApiProblem(
                400, f"field 'id' ('{str(body['id'])[:64]}') does not match the connection in the path"
            )
        now = self.emu.clock.now()
        active = bool(data.get("active", True))
        # A replaced connection restarts [chosen]: CLOSED -> OPENING -> OPENED, or DEACTIVATED.
        new = Connection(
            id=old.id,
            user=user,
            name=data["name"],
            active=active,
            configuration=with_defaults(data["configuration"]),
            state=CLOSED if active else DEACTIVATED,
            state_reason=STARTING if active else None,
            startup_time=now if active else old.startup_time,
            created=old.created,
            modified=now,
            alarms=data.get("alarms"),
            downlink_uuid=old.downlink_uuid,
            top_level=_top_level(data, checked),
        )

        def write(c: sqlite3.Connection) -> list[dict[str, Any]]:
            if c.execute("DELETE FROM iotflow_connections WHERE id = ?", (old.id,)).rowcount == 0:
                # Deleted by a concurrent request between the cache check and this commit.
                raise ApiProblem(404, f"connection '{cid[:64]}' not found")
            _insert(c, new)
            events = [
                self.emu.events.stage(c, "connection.updated", {"connection": new.id, "name": new.name})
            ]
            events += self._notes(c, new, checked)
            if not active:
                n = _drop_pending(c, new.id, "connection deactivated", now)
                if n:
                    events.append(self._outcome_event(c, new.id, n, "connection deactivated"))
            else:
                drain = release_backlog(c, new.id, now)
                if old.state == CLOSED and not old.starting:
                    new.drain_upto = drain  # as on a reconnect: the backlog goes out in order
            if old.state != new.state or old.starting != new.starting:
                events.append(self._state_event(c, new, old.state, "configuration replaced"))
            return events

        events = await self.emu.store.write(write)
        self._cache(new)
        if active:
            self._start(new, now)
        self.emu.events.publish(*events)
        self._log_unknown(new, checked)
        self.emu.worker.wake()
        return new, checked

    async def delete(self, user: str, cid: str) -> None:
        conn = self.get(user, cid)
        now = self.emu.clock.now()

        def write(c: sqlite3.Connection) -> list[dict[str, Any]]:
            if c.execute("DELETE FROM iotflow_connections WHERE id = ?", (conn.id,)).rowcount == 0:
                # Deleted by a concurrent request between the cache check and this commit.
                raise ApiProblem(404, f"connection '{cid[:64]}' not found")
            c.execute("DELETE FROM iotflow_downlinks WHERE connection = ? AND status = 'queued'", (conn.id,))
            events = [
                self.emu.events.stage(c, "connection.deleted", {"connection": conn.id, "name": conn.name})
            ]
            n = _drop_pending(c, conn.id, "connection deleted", now)
            if n:
                events.append(self._outcome_event(c, conn.id, n, "connection deleted"))
            return events

        events = await self.emu.store.write(write)
        self.cache.pop(conn.id, None)
        self.by_uuid.pop(conn.downlink_uuid, None)
        self.emu.events.publish(*events)

    # -- state --------------------------------------------------------------------------------
    def stage_state(
        self,
        c: sqlite3.Connection,
        conn: Connection,
        previous: str,
        reason: str | None,
    ) -> dict[str, Any]:
        """Inside a transaction: persist ``conn``'s (already changed) state and stage its event."""
        c.execute(
            "UPDATE iotflow_connections SET state = ?, state_reason = ?, closed_at = ? WHERE id = ?",
            (conn.state, reason, conn.closed_at, conn.id),
        )
        return self._state_event(c, conn, previous, reason)

    def _start(self, conn: Connection, now: float) -> None:
        conn.extra["startup"] = (now + STARTUP_CLOSED, now + STARTUP_CLOSED + STARTUP_OPENING)
        service = self.emu.services.get("iotflow")
        if service is not None:
            service.reconnect.wake()

    def _cache(self, conn: Connection) -> None:
        self.cache[conn.id] = conn
        self.by_uuid[conn.downlink_uuid] = conn

    def _state_event(
        self, c: sqlite3.Connection, conn: Connection, previous: str, reason: str | None
    ) -> dict[str, Any]:
        return self.emu.events.stage(
            c,
            "connection.state",
            {
                "connection": conn.id,
                "name": conn.name,
                "state": conn.state,
                "previous": previous,
                "reason": conn.state_reason if reason is None else reason,
            },
        )

    def _notes(
        self, c: sqlite3.Connection, conn: Connection, checked: CheckedConnection
    ) -> builtins.list[dict[str, Any]]:
        """Events about what was accepted as given: unknown keys, a generated tiak (never its value)."""
        events: builtins.list[dict[str, Any]] = []
        if checked.unknown:
            events.append(
                self.emu.events.stage(
                    c,
                    "connection.unknown_keys",
                    {
                        "connection": conn.id,
                        "name": conn.name,
                        "keys": reported_keys(checked.unknown),
                        "count": len(checked.unknown),
                        "message": unknown_keys_message(checked.unknown),
                    },
                )
            )
        if checked.generated_tiak:
            events.append(
                self.emu.events.stage(
                    c,
                    "connection.tiak_generated",
                    {
                        "connection": conn.id,
                        "name": conn.name,
                        "reason": "lrcCompliance is true and no tiak was given",
                    },
                )
            )
        return events

    @staticmethod
    def _log_unknown(conn: Connection, checked: CheckedConnection) -> None:
        if checked.unknown:
            log.warning("connection %s (%s): %s", conn.id, conn.name, unknown_keys_message(checked.unknown))

    def _outcome_event(self, c: sqlite3.Connection, cid: str, count: int, reason: str) -> dict[str, Any]:
        return self.emu.events.stage(
            c, "delivery.dropped", {"connection": cid, "count": count, "reason": reason}
        )


#: Unknown keys named in a warning, and the length of each name shown [chosen: a body full of junk
#: keys must not make the answer's headers or the journal grow without bound].
MAX_REPORTED_KEYS = 20
MAX_KEY_LENGTH = 128


def reported_keys(keys: list[str]) -> list[str]:
    """The unknown keys a warning names: the first ``MAX_REPORTED_KEYS``, each cut to ``MAX_KEY_LENGTH``."""
    return [k if len(k) <= MAX_KEY_LENGTH else k[:MAX_KEY_LENGTH] + "..." for k in keys[:MAX_REPORTED_KEYS]]


def unknown_keys_message(keys: list[str]) -> str:
    names = ", ".join(f"'{k}'" for k in reported_keys(keys))
    more = f" and {len(keys) - MAX_REPORTED_KEYS} more" if len(keys) > MAX_REPORTED_KEYS else ""
    return f"no document knows {names}{more}: stored and echoed as given"


def _order(conn: Connection) -> tuple[float, int, str]:
    return (conn.created, int(conn.id) if conn.id.isdigit() else 0, conn.id)


def _top_level(data: dict[str, Any], checked: CheckedConnection) -> dict[str, Any]:
    unknown_top = {k for k in checked.unknown if "." not in k}
    return {k: v for k, v in data.items() if k in STORED_TOP_LEVEL or k in unknown_top}


def _next_id(c: sqlite3.Connection) -> str:
    """The next connection id: "1", "2", ... never reused (until a reset)."""
    row = c.execute("SELECT value FROM iotflow_counters WHERE name = 'connection'").fetchone()
    n = (int(row[0]) if row else 0) + 1
    while c.execute("SELECT 1 FROM iotflow_connections WHERE id = ?", (str(n),)).fetchone():
        n += 1
    c.execute(
        "INSERT INTO iotflow_counters(name, value) VALUES ('connection', ?) "
        "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        (n,),
    )
    return str(n)


def _insert(c: sqlite3.Connection, conn: Connection) -> None:
    c.execute(
        "INSERT INTO iotflow_connections(id, user, connector_id, name, active, alarms, configuration, state, "
        "state_reason, closed_at, startup_time, created, modified, downlink_uuid, top_level) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            conn.id,
            conn.user,
            conn.connector_id,
            conn.name,
            int(conn.active),
            None if conn.alarms is None else json.dumps(conn.alarms),
            json.dumps(seal_as_key(conn.configuration)),
            conn.state,
            conn.state_reason,
            conn.closed_at,
            int(conn.startup_time * 1000),
            int(conn.created * 1000),
            int(conn.modified * 1000),
            conn.downlink_uuid,
            json.dumps(conn.top_level) if conn.top_level else None,
        ),
    )


def release_backlog(c: sqlite3.Connection, cid: str, now: float) -> int:
    """The connection's waiting uplinks are due now; returns the newest one's id (0: none), up to which
    the backlog goes out one at a time, in order (``Connection.drain_upto``)."""
    row = c.execute(
        "SELECT MAX(id) FROM deliveries WHERE connection = ? AND status = ?", (cid, PENDING)
    ).fetchone()
    c.execute(
        "UPDATE deliveries SET next_at = ? WHERE connection = ? AND status = ? AND next_at > ?",
        (now, cid, PENDING, now),
    )
    return int(row[0] or 0)


def _drop_pending(c: sqlite3.Connection, cid: str, reason: str, now: float) -> int:
    cur = c.execute(
        "UPDATE deliveries SET status = ?, reason = ?, updated_at = ? WHERE connection = ? AND status = ?",
        (DROPPED, reason, now, cid, PENDING),
    )
    return cur.rowcount
