"""HTTP connections: the stored model, its API view, and the service that owns their state.

Connection states [chosen names]:

- ``OPEN``: active, and the destination answered the last request (any HTTP status) or was not tried yet.
- ``CLOSED``: active, but the destination could not be reached (connect error or timeout); reconnect
  attempts follow ``reconnectStrategy`` and uplinks wait, in order.
- ``DEACTIVATED``: ``active: false``; nothing is forwarded.

Every connection lives in SQLite and in an in-memory cache that is updated by the same code paths,
so the forwarding policy can read it without a store round trip per uplink.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from iotcli.delivery.outbox import DROPPED, PENDING
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.iotflow.connector_schema import (
    CONNECTOR_ID,
    MASK,
    hash_as_key,
    keep_secrets,
    mask,
    validate_connection,
    with_defaults,
)

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

OPEN, CLOSED, DEACTIVATED = "OPEN", "CLOSED", "DEACTIVATED"


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
    #: In memory only: after a reconnect, deliveries up to this id are sent one at a time (in order).
    drain_upto: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def uuid(self) -> str:
        """The dashed UUID form used in ``downlinkUrl``."""
        return f"{self.id[:8]}-{self.id[8:12]}-{self.id[12:16]}-{self.id[16:20]}-{self.id[20:]}"

    @property
    def strict(self) -> bool:
        return bool(self.configuration.get("strictMode"))

    def to_api(self) -> dict[str, Any]:
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
        return data

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Connection:
        return cls(
            id=row["id"],
            user=row["user"],
            name=row["name"],
            active=bool(row["active"]),
            configuration=json.loads(row["configuration"]),
            state=row["state"],
            startup_time=row["startup_time"] / 1000,
            created=row["created"] / 1000,
            modified=row["modified"] / 1000,
            connector_id=row["connector_id"],
            alarms=None if row["alarms"] is None else json.loads(row["alarms"]),
            state_reason=row["state_reason"],
            closed_at=row["closed_at"],
        )


def normalize_connection_id(raw: str) -> str | None:
    """Accept the 32-hex id or the dashed UUID form; None if it is neither."""
    try:
        return uuid.UUID(raw).hex if len(raw) in (32, 36) else None
    except ValueError:
        return None


class ConnectionService:
    """Create, read, replace and delete connections; track their state."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.cache: dict[str, Connection] = {}

    # -- life cycle ---------------------------------------------------------------------------
    async def load(self) -> None:
        rows = await self.emu.store.read(
            lambda c: c.execute("SELECT * FROM iotflow_connections ORDER BY created, id").fetchall()
        )
        self.cache = {r["id"]: Connection.from_row(r) for r in rows}

    def clear(self) -> None:
        self.cache.clear()

    # -- reads --------------------------------------------------------------------------------
    def list(self, user: str) -> list[Connection]:
        return sorted((c for c in self.cache.values() if c.user == user), key=lambda c: (c.created, c.id))

    def get(self, user: str, cid: str) -> Connection:
        norm = normalize_connection_id(cid)
        conn = self.cache.get(norm or cid)
        if conn is None or conn.user != user:
            raise ApiProblem(404, f"connection '{cid}' not found")
        return conn

    # -- writes -------------------------------------------------------------------------------
    async def create(self, user: str, body: Any) -> Connection:
        validate_connection(body)
        now = self.emu.clock.now()
        active = bool(body.get("active", True))
        conn = Connection(
            id=uuid.uuid4().hex,
            user=user,
            name=body["name"],
            active=active,
            configuration=hash_as_key(with_defaults(body["configuration"])),
            state=OPEN if active else DEACTIVATED,
            startup_time=now,
            created=now,
            modified=now,
            alarms=body.get("alarms"),
        )

        def write(c: sqlite3.Connection) -> dict[str, Any]:
            _insert(c, conn)
            return self.emu.events.stage(
                c, "connection.created", {"connection": conn.id, "name": conn.name, "state": conn.state}
            )

        event = await self.emu.store.write(write)
        self.cache[conn.id] = conn
        self.emu.events.publish(event)
        return conn

    async def replace(self, user: str, cid: str, body: Any) -> Connection:
        """PUT: the whole connection again. ``"*****"`` keeps a stored secret."""
        old = self.get(user, cid)
        fresh_key = False  # a new downlinkAsKey was sent (not "*****", which keeps the stored hash)
        if isinstance(body, dict) and isinstance(body.get("configuration"), dict):
            fresh_key = body["configuration"].get("downlinkAsKey") not in (None, "", MASK)
            body = {**body, "configuration": keep_secrets(body["configuration"], old.configuration)}
        validate_connection(body)
        if "id" in body and normalize_connection_id(str(body["id"])) != old.id:
            raise ApiProblem(400, f"field 'id' ('{body['id']}') does not match the connection in the path")
        now = self.emu.clock.now()
        active = bool(body.get("active", True))
        # A replaced connection starts afresh [chosen]: OPEN (reconnect at once) or DEACTIVATED.
        new = Connection(
            id=old.id,
            user=user,
            name=body["name"],
            active=active,
            configuration=(hash_as_key if fresh_key else dict)(with_defaults(body["configuration"])),
            state=OPEN if active else DEACTIVATED,
            startup_time=now if (active and old.state != OPEN) else old.startup_time,
            created=old.created,
            modified=now,
            alarms=body.get("alarms"),
        )

        def write(c: sqlite3.Connection) -> list[dict[str, Any]]:
            if c.execute("DELETE FROM iotflow_connections WHERE id = ?", (old.id,)).rowcount == 0:
                # Deleted by a concurrent request between the cache check and this commit.
                raise ApiProblem(404, f"connection '{cid}' not found")
            _insert(c, new)
            events = [
                self.emu.events.stage(c, "connection.updated", {"connection": new.id, "name": new.name})
            ]
            if not active:
                n = _drop_pending(c, new.id, "connection deactivated", now)
                if n:
                    events.append(self._outcome_event(c, new.id, n, "connection deactivated"))
            else:
                drain = release_backlog(c, new.id, now)
                if old.state == CLOSED:
                    new.drain_upto = drain  # as on a reconnect: the backlog goes out in order
            if old.state != new.state:
                events.append(self._state_event(c, new, old.state, "configuration replaced"))
            return events

        events = await self.emu.store.write(write)
        self.cache[new.id] = new
        self.emu.events.publish(*events)
        self.emu.worker.wake()
        return new

    async def delete(self, user: str, cid: str) -> None:
        conn = self.get(user, cid)
        now = self.emu.clock.now()

        def write(c: sqlite3.Connection) -> list[dict[str, Any]]:
            if c.execute("DELETE FROM iotflow_connections WHERE id = ?", (conn.id,)).rowcount == 0:
                # Deleted by a concurrent request between the cache check and this commit.
                raise ApiProblem(404, f"connection '{cid}' not found")
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
        self.emu.events.publish(*events)

    # -- state --------------------------------------------------------------------------------
    def stage_state(
        self, c: sqlite3.Connection, conn: Connection, state: str, reason: str | None, now: float
    ) -> dict[str, Any] | None:
        """Inside a transaction: persist a state change (cache updated by the caller after commit)."""
        if conn.state == state:
            return None
        closed_at = now if state == CLOSED else None
        c.execute(
            "UPDATE iotflow_connections SET state = ?, state_reason = ?, closed_at = ? WHERE id = ?",
            (state, reason, closed_at, conn.id),
        )
        return self._state_event(c, Connection(**{**conn.__dict__, "state": state}), conn.state, reason)

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
                "reason": reason,
            },
        )

    def _outcome_event(self, c: sqlite3.Connection, cid: str, count: int, reason: str) -> dict[str, Any]:
        return self.emu.events.stage(
            c, "delivery.dropped", {"connection": cid, "count": count, "reason": reason}
        )


def _insert(c: sqlite3.Connection, conn: Connection) -> None:
    c.execute(
        "INSERT INTO iotflow_connections(id, user, connector_id, name, active, alarms, configuration, state, "
        "state_reason, closed_at, startup_time, created, modified) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            conn.id,
            conn.user,
            conn.connector_id,
            conn.name,
            int(conn.active),
            None if conn.alarms is None else json.dumps(conn.alarms),
            json.dumps(conn.configuration),
            conn.state,
            conn.state_reason,
            conn.closed_at,
            int(conn.startup_time * 1000),
            int(conn.created * 1000),
            int(conn.modified * 1000),
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
