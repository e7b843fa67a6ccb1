"""The SQL of HTTP connections: the ``iotflow_connections`` rows and their deliveries in the outbox.

Every function runs inside a store transaction (``emu.store.write``/``read``); ``ConnectionService``
decides what to write.
"""

from __future__ import annotations

import json
import sqlite3

from iotcli.delivery.outbox import DROPPED, PENDING
from iotcli.emulator.iotflow.connection_model import Connection
from iotcli.emulator.iotflow.connection_secrets import seal_as_key


def all_rows(c: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every connection, oldest first."""
    return c.execute("SELECT * FROM iotflow_connections ORDER BY created, id").fetchall()


def next_id(c: sqlite3.Connection) -> str:
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


def insert(c: sqlite3.Connection, conn: Connection) -> None:
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


def drop_pending(c: sqlite3.Connection, cid: str, reason: str, now: float) -> int:
    cur = c.execute(
        "UPDATE deliveries SET status = ?, reason = ?, updated_at = ? WHERE connection = ? AND status = ?",
        (DROPPED, reason, now, cid, PENDING),
    )
    return cur.rowcount


def delete(c: sqlite3.Connection, cid: str) -> bool:
    """Delete the connection's row; False when it was gone already."""
    return c.execute("DELETE FROM iotflow_connections WHERE id = ?", (cid,)).rowcount > 0


def delete_queued_downlinks(c: sqlite3.Connection, cid: str) -> None:
    c.execute("DELETE FROM iotflow_downlinks WHERE connection = ? AND status = 'queued'", (cid,))


def save_state(c: sqlite3.Connection, conn: Connection, reason: str | None) -> None:
    c.execute(
        "UPDATE iotflow_connections SET state = ?, state_reason = ?, closed_at = ? WHERE id = ?",
        (conn.state, reason, conn.closed_at, conn.id),
    )


def pending_count(c: sqlite3.Connection, cid: str) -> int:
    """How many messages wait in the outbox for this connection."""
    return int(
        c.execute(
            "SELECT COUNT(*) FROM deliveries WHERE connection = ? AND status = ?", (cid, PENDING)
        ).fetchone()[0]
    )
