"""Bucket exports: made at once, kept until deleted; a finished export may call an endpoint.

The real server builds an export in the background and announces it (``bucket_export_completed`` on the
event websocket, then an email or an endpoint call) [source: thinger-io/Docs features/buckets.md,
thinger-io/node-red-contrib-thinger nodes/bucket-export.js]. The emulator builds it at once, in the
request: the answer already names the finished file [chosen].
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any

from iotcli.delivery.outbox import PENDING, Delivery, enqueue
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.thinger.backend.buckets import BUCKET_DOCS
from iotcli.emulator.thinger.backend.export_files import FORMATS, render
from iotcli.emulator.thinger.backend.records import prune, record_value, records_in_range
from iotcli.emulator.thinger.backend.state import Caches, exists, not_found

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

EMAIL_NOTE = "the emulator sends no email: the export is listed in GET .../exports"


class Exports:
    """The bucket export backend (``ThingerBackend.exports``)."""

    def __init__(self, emu: Emulator, caches: Caches) -> None:
        self.emu = emu
        self.caches = caches

    async def create(
        self,
        user: str,
        bucket: str,
        data_type: str,
        ts_format: str,
        min_ts: int | None,
        max_ts: int | None,
        callback: str | None,
        endpoint: str | None,
        base_url: str,
    ) -> dict[str, Any]:
        """The export of the records in ``[min_ts, max_ts]``, as the API shows it (``file`` names it)."""
        emu = self.emu
        info = await self.caches.buckets.get(user, bucket)
        if info is None:
            raise not_found("bucket", bucket)
        now = emu.clock.now_ms()

        def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any], Delivery | None]:
            if BUCKET_DOCS.fetch(conn, (user,), bucket) is None:
                raise not_found("bucket", bucket)
            if callback == "endpoint" and not exists(conn, "th_endpoints", "endpoint", user, str(endpoint)):
                raise ApiProblem(400, f"field 'endpoint': endpoint '{endpoint}' does not exist")
            prune(conn, info, now)
            where, args = records_in_range(user, bucket, min_ts, max_ts)
            sql = f"SELECT ts, val FROM th_bucket_data {where} ORDER BY ts"
            rows = [(r[0], record_value(json.loads(r[1]), r[0])) for r in conn.execute(sql, args)]
            content = render(rows, data_type, ts_format, bucket)
            # A path id like every other (contract section 1): "<data_type>-<created ms>[-n]".
            file = f"{data_type}-{now}"
            n = 1
            while conn.execute(
                "SELECT 1 FROM th_bucket_exports WHERE user = ? AND bucket = ? AND file = ?",
                (user, bucket, file),
            ).fetchone():
                n += 1
                file = f"{data_type}-{now}-{n}"
            export = {
                "bucket": bucket,
                "file": file,
                "data_type": data_type,
                "timestamp_format": ts_format,
                "min_ts": min_ts or 0,
                "max_ts": max_ts or 0,
                "records": len(rows),
                "size": len(content),
                "status": "completed",
                "created": now,
                "url": f"{base_url}/v1/users/{user}/buckets/{bucket}/exports/{file}",
            }
            if callback:
                export["callback"] = callback
            if endpoint:
                export["endpoint"] = endpoint
            conn.execute(
                "INSERT INTO th_bucket_exports(user, bucket, file, info, content, created) VALUES (?,?,?,?,?,?)",
                (user, bucket, file, json.dumps(export), content, now),
            )
            delivery = None
            data: dict[str, Any] = {"user": user, "bucket": bucket, "file": file, "records": len(rows)}
            if callback == "endpoint":
                message = {
                    "endpoint": endpoint,
                    "data": {k: export[k] for k in ("bucket", "file", "url", "data_type", "records")},
                    "source": "bucket_export",
                }
                at = now / 1000
                did = enqueue(
                    conn, kind="endpoint", message=message, now=at, user=user, endpoint=str(endpoint)
                )
                delivery = Delivery(did, "endpoint", PENDING, message, 0, at, at, user, None, str(endpoint))
                data["delivery"] = str(did)
            elif callback == "email":
                data["note"] = EMAIL_NOTE
            event = emu.events.stage(conn, "bucket.export_completed", data)
            return export, event, delivery

        export, event, delivery = await emu.store.write(write)
        if delivery is not None:
            emu.worker.hand_off([delivery])
        emu.events.publish(event)
        return export

    async def all(self, user: str, bucket: str) -> list[dict[str, Any]]:
        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            BUCKET_DOCS.get(conn, (user,), bucket)
            rows = conn.execute(
                "SELECT info FROM th_bucket_exports WHERE user = ? AND bucket = ? ORDER BY created, file",
                (user, bucket),
            ).fetchall()
            return [json.loads(r[0]) for r in rows]

        return await self.emu.store.read(read)

    async def file(self, user: str, bucket: str, file: str) -> tuple[bytes, str, str]:
        """(content, file extension, media type) of an export."""
        row = await self.emu.store.read(
            lambda c: c.execute(
                "SELECT info, content FROM th_bucket_exports WHERE user = ? AND bucket = ? AND file = ?",
                (user, bucket, file),
            ).fetchone()
        )
        if row is None:
            raise not_found("export", file)
        ext, media = FORMATS.get(
            json.loads(row["info"]).get("data_type"), ("bin", "application/octet-stream")
        )
        return bytes(row["content"]), ext, media

    async def delete(self, user: str, bucket: str, file: str) -> dict[str, Any]:
        emu = self.emu

        def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], dict[str, Any]]:
            row = conn.execute(
                "SELECT info FROM th_bucket_exports WHERE user = ? AND bucket = ? AND file = ?",
                (user, bucket, file),
            ).fetchone()
            if row is None:
                raise not_found("export", file)
            conn.execute(
                "DELETE FROM th_bucket_exports WHERE user = ? AND bucket = ? AND file = ?",
                (user, bucket, file),
            )
            event = emu.events.stage(
                conn, "bucket.export_deleted", {"user": user, "bucket": bucket, "file": file}
            )
            return json.loads(row[0]), event

        data, event = await emu.store.write(write)
        emu.events.publish(event)
        return data
