"""Named JSON documents per user (buckets, endpoints): the SQL and the route steps they share.

``commit`` is the tail of every change route of the surface (devices and properties too).

Both tables have the shape ``(user, <key>, doc, created, modified)``; the API shows a document as
``{<key>: name, **doc, "created", "modified"}``. The route modules keep what differs (the fields of a
new document, how an update merges, what else a delete removes, the events' data).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.http import ok, query_int
from iotcli.emulator.thinger.service import not_found

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

Event = dict[str, Any]

#: The list query of buckets and endpoints, as the device list takes it (clients page with
#: ``?name=&count=50&index=N``) [source: thinger-io/node-red-contrib-thinger nodes/thinger-server.js].
LIST_QUERY = {
    "name": "only items whose id or name contains this text (case-insensitive)",
    "count": "at most this many items",
    "index": "skip this many items first (offset)",
}


def list_filter(request: Request, key: str) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    """``name``, ``count`` and ``index`` of a list request (checked now), as a function over the list."""
    name = (request.query_params.get("name") or "").lower()
    count = query_int(request, "count", None, minimum=0)
    index = query_int(request, "index", 0, minimum=0) or 0

    def keep(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if name:
            items = [
                i for i in items if name in str(i[key]).lower() or name in str(i.get("name") or "").lower()
            ]
        end = None if count is None else index + count
        return items[index:end]

    return keep


@dataclass(frozen=True)
class Documents:
    table: str  # th_buckets
    key: str  # bucket: the id column, the id field of the API, and the word in messages and events

    def fetch(self, conn: sqlite3.Connection, user: str, name: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = conn.execute(
            f"SELECT {self.key}, doc, created, modified FROM {self.table} WHERE user = ? AND {self.key} = ?",
            (user, name),
        ).fetchone()
        return row

    def get(self, conn: sqlite3.Connection, user: str, name: str) -> sqlite3.Row:
        """The row, or 404 naming it."""
        row = self.fetch(conn, user, name)
        if row is None:
            raise not_found(self.key, name)
        return row

    def show(self, row: sqlite3.Row) -> dict[str, Any]:
        """A row as the API shows it."""
        doc = json.loads(row["doc"])
        return {self.key: row[self.key], **doc, "created": row["created"], "modified": row["modified"]}

    def list(self, conn: sqlite3.Connection, user: str) -> list[dict[str, Any]]:
        rows = conn.execute(
            f"SELECT {self.key}, doc, created, modified FROM {self.table} WHERE user = ? ORDER BY {self.key}",
            (user,),
        ).fetchall()
        return [self.show(r) for r in rows]

    def insert(
        self, conn: sqlite3.Connection, user: str, name: str, doc: dict[str, Any], now: int
    ) -> dict[str, Any]:
        """Create it (400 if the name is taken); returns it as shown."""
        if self.fetch(conn, user, name) is not None:
            raise ApiProblem(400, f"{self.key} '{name}' already exists")
        conn.execute(
            f"INSERT INTO {self.table}(user, {self.key}, doc, created, modified) VALUES (?,?,?,?,?)",
            (user, name, json.dumps(doc), now, now),
        )
        return self.show(self.get(conn, user, name))

    def update(
        self,
        conn: sqlite3.Connection,
        user: str,
        name: str,
        merge: Callable[[dict[str, Any]], dict[str, Any]],
        now: int,
    ) -> dict[str, Any]:
        """Replace the document with ``merge(stored document)`` (404 if missing); returns it as shown."""
        doc = merge(json.loads(self.get(conn, user, name)["doc"]))
        conn.execute(
            f"UPDATE {self.table} SET doc = ?, modified = ? WHERE user = ? AND {self.key} = ?",
            (json.dumps(doc), now, user, name),
        )
        return self.show(self.get(conn, user, name))

    def delete(self, conn: sqlite3.Connection, user: str, name: str) -> dict[str, Any]:
        """Delete it (404 if missing); returns what it was, as shown."""
        row = self.get(conn, user, name)
        conn.execute(f"DELETE FROM {self.table} WHERE user = ? AND {self.key} = ?", (user, name))
        return self.show(row)

    def changes(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        """An update's fields: the body without the id, which may be repeated but not changed."""
        rest = dict(body)
        if self.key in rest:
            if rest[self.key] != name:
                raise ApiProblem(400, f"field '{self.key}' cannot be changed (it is '{name}')")
            del rest[self.key]
        return rest


async def commit(
    emu: Emulator,
    write: Callable[[sqlite3.Connection], tuple[Any, Event]],
    forget: Callable[[], None] | None = None,
) -> Response:
    """Run a change that returns (what to answer, its event); then drop the cached entry it changed,
    publish the event, and answer."""
    data, event = await emu.store.write(write)
    if forget is not None:
        forget()
    emu.events.publish(event)
    return ok(data)
