"""The backend of HTTP connections: create, read, replace and delete them, and change their state.

Every connection lives in SQLite (``connection_rows``) and in an in-memory cache that is updated by
the same code paths, so the forwarding policy can read it without a store round trip per uplink. The
model and its states are in ``connection_model``.
"""

from __future__ import annotations

import builtins
import logging
import sqlite3
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.iotflow import connection_rows as rows_sql
from iotcli.emulator.iotflow.connection_model import (
    CLOSED,
    DEACTIVATED,
    OPENED,
    OPENING,
    RETENTION,
    STARTING,
    STARTUP_CLOSED,
    STARTUP_OPENING,
    Connection,
    dashed_uuid,
    normalize_connection_id,
    reported_keys,
    unknown_keys_message,
)
from iotcli.emulator.iotflow.connection_model import iso_time as iso_time
from iotcli.emulator.iotflow.connection_secrets import keep_secrets
from iotcli.emulator.iotflow.connector_schema import (
    STORED_TOP_LEVEL,
    CheckedConnection,
    validate_connection,
    with_defaults,
)
from iotcli.emulator.iotflow.reconnect_schedule import next_attempt

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

log = logging.getLogger("iotcli.emulator")


def _nothing() -> None:
    return None


class ConnectionService:
    """Create, read, replace and delete connections; track their state."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.cache: dict[str, Connection] = {}
        self.by_uuid: dict[str, Connection] = {}
        #: Called when a connection's timers change (a start, a state change): the reconnect monitor's
        #: ``wake``, set by the surface's service.
        self.wake_monitor: Callable[[], None] = _nothing

    # -- life cycle ---------------------------------------------------------------------------
    async def load(self) -> None:
        rows = await self.emu.store.read(rows_sql.all_rows)
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
        now = self.emu.clock.now()
        conn = _from_checked(checked, user, now, cid="", created=now, downlink_uuid=str(uuid.uuid4()))

        def write(c: sqlite3.Connection) -> list[dict[str, Any]]:
            conn.id = rows_sql.next_id(c)
            rows_sql.insert(c, conn)
            events = [
                self.emu.events.stage(
                    c, "connection.created", {"connection": conn.id, "name": conn.name, "state": conn.state}
                )
            ]
            events += self._notes(c, conn, checked)
            return events

        self._stored(conn, checked, now, await self.emu.store.write(write))
        return conn, checked

    async def replace(self, user: str, cid: str, body: Any) -> tuple[Connection, CheckedConnection]:
        """PUT: the whole connection again. ``"*****"`` keeps a stored secret."""
        old = self.get(user, cid)
        if isinstance(body, dict) and isinstance(body.get("configuration"), dict):
            body = {**body, "configuration": keep_secrets(body["configuration"], old.configuration)}
        stored_tiak = old.configuration.get("tiak")
        checked = validate_connection(body, stored_tiak if isinstance(stored_tiak, str) else None)
        if (
            "id" in body
            and str(body["id"]) not in (old.id, old.downlink_uuid)
            and (normalize_connection_id(str(body["id"])) != old.id)
        ):
            raise ApiProblem(
                400, f"field 'id' ('{str(body['id'])[:64]}') does not match the connection in the path"
            )
        now = self.emu.clock.now()
        # A replaced connection restarts [chosen]: CLOSED -> OPENING -> OPENED, or DEACTIVATED.
        new = _from_checked(
            checked, user, now, cid=old.id, created=old.created, downlink_uuid=old.downlink_uuid
        )
        active = new.active
        if not active:
            new.startup_time = old.startup_time

        def write(c: sqlite3.Connection) -> list[dict[str, Any]]:
            if not rows_sql.delete(c, old.id):
                # Deleted by a concurrent request between the cache check and this commit.
                raise ApiProblem(404, f"connection '{cid[:64]}' not found")
            rows_sql.insert(c, new)
            events = [
                self.emu.events.stage(c, "connection.updated", {"connection": new.id, "name": new.name})
            ]
            events += self._notes(c, new, checked)
            if not active:
                n = rows_sql.drop_pending(c, new.id, "connection deactivated", now)
                if n:
                    events.append(self._outcome_event(c, new.id, n, "connection deactivated"))
            else:
                drain = rows_sql.release_backlog(c, new.id, now)
                if old.state == CLOSED and not old.starting:
                    new.drain_upto = drain  # as on a reconnect: the backlog goes out in order
            if old.state != new.state or old.starting != new.starting:
                events.append(self._state_event(c, new, old.state, "configuration replaced"))
            return events

        self._stored(new, checked, now, await self.emu.store.write(write))
        self.emu.worker.wake()
        return new, checked

    async def delete(self, user: str, cid: str) -> None:
        conn = self.get(user, cid)
        now = self.emu.clock.now()

        def write(c: sqlite3.Connection) -> list[dict[str, Any]]:
            if not rows_sql.delete(c, conn.id):
                # Deleted by a concurrent request between the cache check and this commit.
                raise ApiProblem(404, f"connection '{cid[:64]}' not found")
            rows_sql.delete_queued_downlinks(c, conn.id)
            events = [
                self.emu.events.stage(c, "connection.deleted", {"connection": conn.id, "name": conn.name})
            ]
            n = rows_sql.drop_pending(c, conn.id, "connection deleted", now)
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
        rows_sql.save_state(c, conn, reason)
        return self._state_event(c, conn, previous, reason)

    async def set_state(self, conn: Connection, state: str, reason: str) -> None:
        """Change ``conn``'s state (cache first, so concurrent callers see it at once), persist it and
        publish a ``connection.state`` event."""
        if conn.state == state and conn.state_reason == reason:
            return
        now = self.emu.clock.now()
        previous = conn.state
        conn.state = state
        conn.state_reason = reason
        if state == CLOSED and reason != STARTING:
            conn.closed_at = now
            conn.extra.pop("startup", None)
            nxt = next_attempt(conn.reconnect_strategy, now, now)
            conn.extra["next_probe"] = nxt if nxt is not None else now + RETENTION
        elif state != CLOSED:
            conn.closed_at = None
            conn.extra.pop("next_probe", None)
        if state == OPENED:
            conn.extra.pop("startup", None)

        def write(c: sqlite3.Connection) -> tuple[dict[str, Any], int]:
            event = self.stage_state(c, conn, previous, reason)
            drain = rows_sql.release_backlog(c, conn.id, now) if state == OPENED else 0
            return event, drain

        event, drain = await self.emu.store.write(write)
        if state == OPENED and conn.extra.pop("was_down", False):
            conn.drain_upto = drain  # after a reconnect the backlog goes out one at a time, in order
        self.emu.events.publish(event)
        self.emu.worker.wake()
        self.wake_monitor()

    async def open_now(self, conn: Connection, reason: str) -> None:
        """CLOSED or OPENING -> (OPENING ->) OPENED at once: each step is a state change and an event."""
        if conn.state == CLOSED:
            if not conn.starting:
                conn.extra["was_down"] = True
            await self.set_state(conn, OPENING, reason)
        if conn.state == OPENING:
            await self.set_state(conn, OPENED, reason)

    async def pending_count(self, conn: Connection) -> int:
        """How many messages wait in the outbox for ``conn``."""
        cid = conn.id
        count: int = await self.emu.store.read(lambda c: rows_sql.pending_count(c, cid))
        return count

    def _start(self, conn: Connection, now: float) -> None:
        conn.extra["startup"] = (now + STARTUP_CLOSED, now + STARTUP_CLOSED + STARTUP_OPENING)
        self.wake_monitor()

    def _stored(
        self, conn: Connection, checked: CheckedConnection, now: float, events: builtins.list[dict[str, Any]]
    ) -> None:
        """After a create or replace committed: the cache, the start-up timers, the events, the log."""
        self._cache(conn)
        if conn.active:
            self._start(conn, now)
        self.emu.events.publish(*events)
        self._log_unknown(conn, checked)

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


def _order(conn: Connection) -> tuple[float, int, str]:
    return (conn.created, int(conn.id) if conn.id.isdigit() else 0, conn.id)


def _from_checked(
    checked: CheckedConnection, user: str, now: float, *, cid: str, created: float, downlink_uuid: str
) -> Connection:
    """The connection a checked body describes, (re)started at ``now``: CLOSED on its way to OPENED,
    or DEACTIVATED."""
    data = checked.body
    active = bool(data.get("active", True))
    return Connection(
        id=cid,
        user=user,
        name=data["name"],
        active=active,
        configuration=with_defaults(data["configuration"]),
        state=CLOSED if active else DEACTIVATED,
        state_reason=STARTING if active else None,
        startup_time=now,
        created=created,
        modified=now,
        alarms=data.get("alarms"),
        downlink_uuid=downlink_uuid,
        top_level=_top_level(data, checked),
    )


def _top_level(data: dict[str, Any], checked: CheckedConnection) -> dict[str, Any]:
    unknown_top = {k for k in checked.unknown if "." not in k}
    return {k: v for k, v in data.items() if k in STORED_TOP_LEVEL or k in unknown_top}
