"""Named JSON documents (buckets, endpoints, device properties): the one create / read / update /
delete / list shape they share, with its SQL, its events and the cache it keeps right.

The tables have the shape ``(user, [<parent>,] <key>, doc, created, modified)``; the API shows a
document as ``{<key>: name, **doc, "created", "modified"}``. A scope is ``(user,)``, or ``(user,
device)`` for the documents of a device (properties: the device must exist, else 404 naming it). The
backends keep what differs (the fields of a new document, how an update merges, what else a delete
removes, the events' data).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.thinger.backend.state import not_found

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

Event = dict[str, Any]
Scope = tuple[str, ...]
T = TypeVar("T")


@dataclass(frozen=True)
class Documents:
    table: str  # th_buckets
    key: str  # bucket: the id column, the id field of the API, and the word in messages and events
    #: The column naming the owning device (properties), None for the account's own documents.
    parent: str | None = None
    parent_table: str = "th_devices"

    @property
    def _scope_sql(self) -> str:
        return "user = ?" + (f" AND {self.parent} = ?" if self.parent else "")

    def check_scope(self, conn: sqlite3.Connection, scope: Scope) -> None:
        """404 naming the owner when a device-scoped document's device does not exist."""
        if self.parent is None:
            return
        row = conn.execute(
            f"SELECT 1 FROM {self.parent_table} WHERE user = ? AND {self.parent} = ?", scope
        ).fetchone()
        if row is None:
            raise not_found(self.parent, scope[1])

    def fetch(self, conn: sqlite3.Connection, scope: Scope, name: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = conn.execute(
            f"SELECT {self.key}, doc, created, modified FROM {self.table} "
            f"WHERE {self._scope_sql} AND {self.key} = ?",
            (*scope, name),
        ).fetchone()
        return row

    def get(self, conn: sqlite3.Connection, scope: Scope, name: str) -> sqlite3.Row:
        """The row, or 404 naming it."""
        row = self.fetch(conn, scope, name)
        if row is None:
            raise not_found(self.key, name)
        return row

    def show(self, row: sqlite3.Row) -> dict[str, Any]:
        """A row as the API shows it."""
        doc = json.loads(row["doc"])
        return {self.key: row[self.key], **doc, "created": row["created"], "modified": row["modified"]}

    def list(self, conn: sqlite3.Connection, scope: Scope) -> list[dict[str, Any]]:
        rows = conn.execute(
            f"SELECT {self.key}, doc, created, modified FROM {self.table} WHERE {self._scope_sql} "
            f"ORDER BY {self.key}",
            scope,
        ).fetchall()
        return [self.show(r) for r in rows]

    def insert(
        self, conn: sqlite3.Connection, scope: Scope, name: str, doc: dict[str, Any], now: int
    ) -> dict[str, Any]:
        """Create it (400 if the name is taken); returns it as shown."""
        if self.fetch(conn, scope, name) is not None:
            raise ApiProblem(400, f"{self.key} '{name}' already exists")
        self.upsert(conn, scope, name, doc, now)
        return self.show(self.get(conn, scope, name))

    def upsert(
        self, conn: sqlite3.Connection, scope: Scope, name: str, doc: dict[str, Any], now: int
    ) -> None:
        """Create or overwrite it (an overwrite keeps its creation time)."""
        columns = ", ".join(["user", *([self.parent] if self.parent else []), self.key])
        marks = ",".join("?" * (len(scope) + 4))
        conn.execute(
            f"INSERT INTO {self.table}({columns}, doc, created, modified) VALUES ({marks}) "
            f"ON CONFLICT({columns}) DO UPDATE SET doc = excluded.doc, modified = excluded.modified",
            (*scope, name, json.dumps(doc), now, now),
        )

    def update(
        self,
        conn: sqlite3.Connection,
        scope: Scope,
        name: str,
        merge: Callable[[dict[str, Any]], dict[str, Any]],
        now: int,
    ) -> dict[str, Any]:
        """Replace the document with ``merge(stored document)`` (404 if missing); returns it as shown."""
        doc = merge(json.loads(self.get(conn, scope, name)["doc"]))
        conn.execute(
            f"UPDATE {self.table} SET doc = ?, modified = ? WHERE {self._scope_sql} AND {self.key} = ?",
            (json.dumps(doc), now, *scope, name),
        )
        return self.show(self.get(conn, scope, name))

    def delete(self, conn: sqlite3.Connection, scope: Scope, name: str) -> dict[str, Any]:
        """Delete it (404 if missing); returns what it was, as shown."""
        row = self.get(conn, scope, name)
        conn.execute(f"DELETE FROM {self.table} WHERE {self._scope_sql} AND {self.key} = ?", (*scope, name))
        return self.show(row)

    def changes(self, body: dict[str, Any], name: str) -> dict[str, Any]:
        """An update's fields: the body without the id, which may be repeated but not changed."""
        rest = dict(body)
        if self.key in rest:
            if rest[self.key] != name:
                raise ApiProblem(400, f"field '{self.key}' cannot be changed (it is '{name}')")
            del rest[self.key]
        return rest


class DocumentResource:
    """One kind of document as the API changes it: each change in one store job with its event,
    then the cached entry dropped (``forget(scope, name)``) and the event published."""

    def __init__(
        self, emu: Emulator, docs: Documents, forget: Callable[[Scope, str], None] | None = None
    ) -> None:
        self.emu = emu
        self.docs = docs
        self._forget = forget

    async def commit(
        self, write: Callable[[sqlite3.Connection], tuple[T, Event]], forget: Callable[[], None] | None = None
    ) -> T:
        """Run a change that returns (its result, its event); then ``forget()``, publish, return the result."""
        data, event = await self.emu.store.write(write)
        if forget is not None:
            forget()
        self.emu.events.publish(event)
        return data

    def _forgetting(self, scope: Scope, name: str) -> Callable[[], None] | None:
        forget = self._forget
        return None if forget is None else lambda: forget(scope, name)

    async def all(self, scope: Scope) -> list[dict[str, Any]]:
        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            self.docs.check_scope(conn, scope)
            return self.docs.list(conn, scope)

        return await self.emu.store.read(read)

    async def read(self, scope: Scope, name: str) -> dict[str, Any]:
        def read(conn: sqlite3.Connection) -> dict[str, Any]:
            self.docs.check_scope(conn, scope)
            return self.docs.show(self.docs.get(conn, scope, name))

        return await self.emu.store.read(read)

    async def create(
        self, scope: Scope, name: str, doc: dict[str, Any], kind: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        """A new document (400 if the name is taken), and the event ``kind`` with ``data``."""
        now = self.emu.clock.now_ms()

        def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], Event]:
            self.docs.check_scope(conn, scope)
            shown = self.docs.insert(conn, scope, name, doc, now)
            return shown, self.emu.events.stage(conn, kind, data)

        return await self.commit(write, self._forgetting(scope, name))

    async def put(
        self, scope: Scope, name: str, doc: dict[str, Any], kind: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        """Create or overwrite a document (it keeps its creation time), and the event."""
        now = self.emu.clock.now_ms()

        def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], Event]:
            self.docs.check_scope(conn, scope)
            self.docs.upsert(conn, scope, name, doc, now)
            shown = self.docs.show(self.docs.get(conn, scope, name))
            return shown, self.emu.events.stage(conn, kind, data)

        return await self.commit(write, self._forgetting(scope, name))

    async def update(
        self,
        scope: Scope,
        name: str,
        merge: Callable[[dict[str, Any]], dict[str, Any]],
        kind: str,
        data: dict[str, Any],
    ) -> dict[str, Any]:
        """The document replaced by ``merge(stored)`` (404 if missing; merge may refuse), and the event."""
        now = self.emu.clock.now_ms()

        def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], Event]:
            self.docs.check_scope(conn, scope)
            shown = self.docs.update(conn, scope, name, merge, now)
            return shown, self.emu.events.stage(conn, kind, data)

        return await self.commit(write, self._forgetting(scope, name))

    async def delete(
        self,
        scope: Scope,
        name: str,
        kind: str,
        data: dict[str, Any],
        also: Callable[[sqlite3.Connection], None] | None = None,
    ) -> dict[str, Any]:
        """Delete it (404 if missing) and what ``also`` removes with it, and the event; answers what it was."""

        def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], Event]:
            self.docs.check_scope(conn, scope)
            shown = self.docs.delete(conn, scope, name)
            if also is not None:
                also(conn)
            return shown, self.emu.events.stage(conn, kind, data)

        return await self.commit(write, self._forgetting(scope, name))
