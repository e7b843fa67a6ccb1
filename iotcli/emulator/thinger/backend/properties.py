"""Device properties: a document resource scoped to its device; set one or many, PUT, RFC 7386 PATCH."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from iotcli.emulator.thinger.backend.documents import DocumentResource, Documents

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

PROPERTY_DOCS = Documents("th_properties", "property", parent="device")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def property_object(row: sqlite3.Row) -> dict[str, Any]:
    return PROPERTY_DOCS.show(row)


class Properties:
    """The property backend (``ThingerBackend.properties``)."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.docs = DocumentResource(emu, PROPERTY_DOCS)

    async def all(self, user: str, device: str) -> list[dict[str, Any]]:
        return await self.docs.all((user, device))

    async def read(self, user: str, device: str, prop: str) -> dict[str, Any]:
        return await self.docs.read((user, device), prop)

    async def set_many(self, user: str, device: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Create or overwrite each ``{"property", "value", ...}``; answers them as stored."""
        now = self.emu.clock.now_ms()
        scope = (user, device)

        def write(conn: sqlite3.Connection) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            PROPERTY_DOCS.check_scope(conn, scope)
            out = []
            for item in items:
                prop = str(item["property"])
                PROPERTY_DOCS.upsert(
                    conn, scope, prop, {k: v for k, v in item.items() if k != "property"}, now
                )
                out.append(PROPERTY_DOCS.show(PROPERTY_DOCS.get(conn, scope, prop)))
            data = {"user": user, "device": device, "properties": [i["property"] for i in items]}
            return out, self.emu.events.stage(conn, "property.set", data)

        return await self.docs.commit(write)

    async def put(self, user: str, device: str, prop: str, doc: dict[str, Any]) -> dict[str, Any]:
        """The whole property replaced by ``doc``."""
        data = {"user": user, "device": device, "properties": [prop]}
        return await self.docs.put((user, device), prop, doc, "property.set", data)

    async def patch(
        self,
        user: str,
        device: str,
        prop: str,
        patch: dict[str, Any],
        check: Callable[[dict[str, Any]], None],
    ) -> dict[str, Any]:
        """``patch`` merged into the stored property (404 if none); ``check`` validates the result."""

        def merge(doc: dict[str, Any]) -> dict[str, Any]:
            new: dict[str, Any] = merge_patch(doc, patch)
            new.setdefault("value", None)
            check(new)
            return new

        data = {"user": user, "device": device, "properties": [prop]}
        return await self.docs.update((user, device), prop, merge, "property.set", data)

    async def delete(self, user: str, device: str, prop: str) -> dict[str, Any]:
        data = {"user": user, "device": device, "property": prop}
        return await self.docs.delete((user, device), prop, "property.deleted", data)
