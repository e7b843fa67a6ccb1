"""The delivery journal's backend: the queries and the replay behind ``/_emulator/deliveries``.

One place for them: the API routes (``admin.py``) and the inspector (``ui/backend.py``) both read the
journal through these functions, so a filter or a page means the same in both.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from iotcli.delivery.outbox import FINAL, PENDING, delivery_to_dict
from iotcli.emulator.core import Emulator
from iotcli.emulator.errors import ApiProblem

#: Every status a delivery can have, ``pending`` first.
STATUSES = (PENDING, *sorted(FINAL))
#: The columns a list may be filtered on (exact match).
FILTERS = ("status", "connection", "device", "kind")


def select(
    conn: sqlite3.Connection, filters: dict[str, str | None], *, limit: int, before: int | None = None
) -> list[dict[str, Any]]:
    """Deliveries newest first, matching every non-empty filter (and with an id below ``before``)."""
    sql = "SELECT * FROM deliveries WHERE 1=1"
    args: list[Any] = []
    for column in FILTERS:
        value = filters.get(column)
        if value:
            sql += f" AND {column} = ?"
            args.append(value)
    if before is not None:
        sql += " AND id < ?"
        args.append(before)
    sql += " ORDER BY id DESC LIMIT ?"
    args.append(limit)
    return [delivery_to_dict(r) for r in conn.execute(sql, args).fetchall()]


def select_one(conn: sqlite3.Connection, did: int) -> dict[str, Any] | None:
    """One delivery with its every attempt, or None."""
    row = conn.execute("SELECT * FROM deliveries WHERE id = ?", (did,)).fetchone()
    if row is None:
        return None
    attempts = conn.execute(
        "SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY n", (did,)
    ).fetchall()
    return delivery_to_dict(row, attempts)


async def list_deliveries(
    emu: Emulator, filters: dict[str, str | None], *, limit: int, before: int | None = None
) -> list[dict[str, Any]]:
    return await emu.store.read(lambda conn: select(conn, filters, limit=limit, before=before))


async def show(emu: Emulator, did: int) -> dict[str, Any]:
    data = await emu.store.read(lambda conn: select_one(conn, did))
    if data is None:
        raise ApiProblem(404, f"delivery {did} not found")
    return data


async def replay(emu: Emulator, did: int) -> None:
    """Send a failed, dropped or expired delivery again (404 when unknown, 400 when not replayable)."""
    exists = await emu.store.read(
        lambda c: c.execute("SELECT status FROM deliveries WHERE id = ?", (did,)).fetchone()
    )
    if exists is None:
        raise ApiProblem(404, f"delivery {did} not found")
    if not await emu.worker.replay(did):
        raise ApiProblem(
            400, f"delivery {did} is {exists['status']}: only failed, dropped or expired ones can be replayed"
        )
    await emu.events.record("delivery.replayed", delivery=str(did))
