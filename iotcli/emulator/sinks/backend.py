"""Sinks: named local destinations that record every request and answer from a script.

The routes (``routes.py``) only parse and answer; this object owns the state, the SQL and the rules:
which answer a request gets (the status sequence, then the default), the journal of requests (capped
like the event journal), the events, and the class-A loop-back (a ``DevEUI_downlink`` posted to the
``downlinkUrl`` of each ``DevEUI_uplink`` received).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from iotcli.delivery.outbox import MAX_JOURNAL_BODY, is_secret_header
from iotcli.emulator import jsonpolicy
from iotcli.emulator.errors import ApiProblem
from iotcli.sinkspec import RESET, TIMEOUT, ScriptError, SinkScript, parse_script

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

log = logging.getLogger("iotcli.emulator")

#: Requests kept per sink; older ones are pruned as new ones arrive (and, with ``--journal-max-age``,
#: those older than that, like the journals).
MAX_REQUESTS_PER_SINK = 10_000
MASK = "*****"


@dataclass
class Plan:
    """How the route answers one recorded request."""

    request_id: int
    outcome: str  # 'answered' | 'timeout' | 'reset'
    status: int | None
    delay: float  # emulated seconds
    body: bytes
    headers: dict[str, str]
    downlink: dict[str, Any] | None  # the DevEUI_downlink to loop back after answering, and where


class SinkService:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._tasks: set[asyncio.Task[None]] = set()

    # -- life cycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        if self.emu.settings.journal_max_age is not None:
            task = asyncio.create_task(self._prune_loop(), name="sink-pruner")
            self._tasks.add(task)

    async def prune(self) -> int:
        """Drop requests older than the journals' age limit (``--journal-max-age``), in small jobs."""
        max_age = self.emu.settings.journal_max_age
        if max_age is None:
            return 0
        cutoff = int((self.emu.clock.now() - max_age) * 1000)
        total = 0
        while True:
            n = await self.emu.store.write(
                lambda c: (
                    c.execute(
                        "DELETE FROM sink_requests WHERE id IN (SELECT id FROM sink_requests WHERE ts < ? ORDER BY id LIMIT ?)",
                        (cutoff, 5_000),
                    ).rowcount
                )
            )
            total += n
            if n < 5_000:
                return total

    async def _prune_loop(self) -> None:
        while True:
            await asyncio.sleep(self.emu.settings.prune_every)
            try:
                await self.prune()
            except Exception as exc:  # noqa: BLE001
                log.warning("sink request pruning failed: %s", exc)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def url(self, name: str) -> str:
        return f"{self.emu.settings.base_url}/_emulator/sinks/{name}/in"

    # -- sinks ----------------------------------------------------------------------------------
    @staticmethod
    def script_from(body: dict[str, Any]) -> SinkScript:
        try:
            return parse_script({k: v for k, v in body.items() if k != "name"})
        except ScriptError as exc:
            raise ApiProblem(400, str(exc)) from None

    async def create(
        self, name: str, script: SinkScript, *, replace: bool = False
    ) -> tuple[dict[str, Any], bool]:
        """Create the sink (or, with ``replace``, replace its script: the sequence starts again).

        Returns the sink and whether it was created."""
        now = self.emu.clock.now_ms()
        data = json.dumps(script.to_dict())

        def write(conn: sqlite3.Connection) -> tuple[dict[str, Any], bool, dict[str, Any]]:
            exists = conn.execute("SELECT 1 FROM sinks WHERE name = ?", (name,)).fetchone() is not None
            if exists and not replace:
                raise ApiProblem(409, f"sink '{name}' already exists (delete it first, or PUT to replace it)")
            if exists:
                conn.execute(
                    "UPDATE sinks SET script = ?, served = 0, modified = ? WHERE name = ?", (data, now, name)
                )
            else:
                conn.execute(
                    "INSERT INTO sinks(name, script, served, created, modified) VALUES (?, ?, 0, ?, ?)",
                    (name, data, now, now),
                )
            kind = "sink.updated" if exists else "sink.created"
            event = self.emu.events.stage(conn, kind, {"sink": name})
            return self._sink(conn, name), not exists, event

        sink, created, event = await self.emu.store.write(write)
        self.emu.events.publish(event)
        return sink, created

    async def list_all(self) -> list[dict[str, Any]]:
        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            names = [r[0] for r in conn.execute("SELECT name FROM sinks ORDER BY name")]
            return [self._sink(conn, n) for n in names]

        return await self.emu.store.read(read)

    async def get(self, name: str) -> dict[str, Any]:
        sink = await self.emu.store.read(lambda c: self._sink(c, name, missing_ok=True))
        if sink is None:
            raise self._unknown(name)
        return sink

    async def delete(self, name: str) -> None:
        def write(conn: sqlite3.Connection) -> dict[str, Any]:
            if conn.execute("DELETE FROM sinks WHERE name = ?", (name,)).rowcount == 0:
                raise self._unknown(name)
            conn.execute("DELETE FROM sink_requests WHERE sink = ?", (name,))
            return self.emu.events.stage(conn, "sink.deleted", {"sink": name})

        self.emu.events.publish(await self.emu.store.write(write))

    def _sink(self, conn: sqlite3.Connection, name: str, missing_ok: bool = False) -> Any:
        row = conn.execute("SELECT * FROM sinks WHERE name = ?", (name,)).fetchone()
        if row is None:
            if missing_ok:
                return None
            raise self._unknown(name)
        stats = conn.execute("SELECT COUNT(*), MAX(id) FROM sink_requests WHERE sink = ?", (name,)).fetchone()
        return {
            "name": name,
            "url": self.url(name),
            **json.loads(row["script"]),
            "served": row["served"],
            "requests": stats[0],
            "last_request": stats[1],
            "created": row["created"],
            "modified": row["modified"],
        }

    @staticmethod
    def _unknown(name: str) -> ApiProblem:
        return ApiProblem(404, f"sink '{name}' not found (create it with POST /_emulator/sinks)")

    # -- recorded requests ----------------------------------------------------------------------
    async def requests(
        self, name: str, *, after: int | None = None, limit: int = 100, secrets: bool = False
    ) -> list[dict[str, Any]]:
        """Recorded requests, oldest first (with ``after``: only those with a larger id)."""

        def read(conn: sqlite3.Connection) -> list[dict[str, Any]] | None:
            if conn.execute("SELECT 1 FROM sinks WHERE name = ?", (name,)).fetchone() is None:
                return None
            rows = conn.execute(
                "SELECT * FROM sink_requests WHERE sink = ? AND id > ? ORDER BY id LIMIT ?",
                (name, after or 0, limit),
            ).fetchall()
            return [request_to_dict(r, secrets) for r in rows]

        found = await self.emu.store.read(read)
        if found is None:
            raise self._unknown(name)
        return found

    async def clear(self, name: str) -> int:
        """Forget the recorded requests; the status sequence starts again."""

        def write(conn: sqlite3.Connection) -> tuple[int, dict[str, Any]]:
            if conn.execute("UPDATE sinks SET served = 0 WHERE name = ?", (name,)).rowcount == 0:
                raise self._unknown(name)
            n = conn.execute("DELETE FROM sink_requests WHERE sink = ?", (name,)).rowcount
            return n, self.emu.events.stage(conn, "sink.cleared", {"sink": name, "requests": n})

        n, event = await self.emu.store.write(write)
        self.emu.events.publish(event)
        return n

    # -- receiving ------------------------------------------------------------------------------
    async def receive(
        self,
        name: str,
        *,
        method: str,
        path: str,
        query: str,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> Plan:
        """Record one request and decide its answer (in one transaction, so the sequence never skips)."""
        now = self.emu.clock.now_ms()
        text = body.decode("utf-8", "replace")

        def write(conn: sqlite3.Connection) -> tuple[Plan, dict[str, Any]]:
            row = conn.execute("SELECT script, served FROM sinks WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise self._unknown(name)
            script = parse_script(json.loads(row["script"]))
            answer = script.answer_for(row["served"])
            delay = script.delay
            seconds = random.uniform(*delay) if isinstance(delay, tuple) else delay
            plan = Plan(0, "answered", None, seconds, b"", dict(script.headers), None)
            if answer in (TIMEOUT, RESET):
                plan.outcome = str(answer)
            else:
                plan.status = int(answer)
                plan.body = encode_body(script.body)
                if 200 <= plan.status < 300 and script.downlink is not None:
                    plan.downlink = loop_back(text, script.downlink)
            recorded = {"status": plan.status, "outcome": plan.outcome, "delay": round(seconds, 3)}
            if plan.body:
                recorded["body"] = plan.body.decode("utf-8", "replace")[:MAX_JOURNAL_BODY]
            cur = conn.execute(
                "INSERT INTO sink_requests(sink, ts, method, path, query, headers, body, size, answer) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    now,
                    method,
                    path,
                    query,
                    json.dumps(headers),
                    text[:MAX_JOURNAL_BODY],
                    len(body),
                    json.dumps(recorded),
                ),
            )
            plan.request_id = int(cur.lastrowid or 0)
            conn.execute("UPDATE sinks SET served = served + 1 WHERE name = ?", (name,))
            conn.execute(
                "DELETE FROM sink_requests WHERE sink = ? AND id <= ?",
                (name, plan.request_id - MAX_REQUESTS_PER_SINK),
            )
            event = self.emu.events.stage(
                conn,
                "sink.request",
                {
                    "sink": name,
                    "request": plan.request_id,
                    "method": method,
                    "path": path,
                    "status": plan.status,
                    "outcome": plan.outcome,
                },
            )
            return plan, event

        plan, event = await self.emu.store.write(write)
        self.emu.events.publish(event)
        return plan

    async def wait(self, seconds: float) -> None:
        """A scripted delay, on the emulator clock (a scaled or advanced clock shortens it)."""
        if seconds > 0:
            await self.emu.clock.sleep_until(self.emu.clock.now() + seconds)

    # -- class-A loop-back ----------------------------------------------------------------------
    def send_downlink(self, name: str, plan: Plan) -> None:
        """Post the plan's downlink off the request path (the uplink has been answered by then)."""
        if plan.downlink is None:
            return
        task = asyncio.create_task(self._send_downlink(name, plan.request_id, plan.downlink))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_downlink(self, name: str, request_id: int, downlink: dict[str, Any]) -> None:
        url, message = downlink["url"], {"DevEUI_downlink": downlink["message"]}
        result: dict[str, Any] = {"url": url}
        try:
            status, answer = await self._post_downlink(url, message)
            result["status"] = status
            if isinstance(answer, dict) and "id" in answer:
                result["id"] = answer["id"]
            elif answer is not None:
                result["answer"] = answer
        except Exception as exc:  # noqa: BLE001 - recorded, not raised (nobody waits on this task)
            result["error"] = f"{type(exc).__name__}: {exc}"

        def write(conn: sqlite3.Connection) -> dict[str, Any]:
            row = conn.execute("SELECT answer FROM sink_requests WHERE id = ?", (request_id,)).fetchone()
            if row is not None:
                recorded = json.loads(row["answer"])
                recorded["downlink"] = result
                conn.execute(
                    "UPDATE sink_requests SET answer = ? WHERE id = ?", (json.dumps(recorded), request_id)
                )
            return self.emu.events.stage(
                conn,
                "sink.downlink",
                {
                    "sink": name,
                    "request": request_id,
                    "DevEUI": downlink["message"]["DevEUI"],
                    "http_status": result.get("status"),
                    "error": result.get("error"),
                },
            )

        with contextlib.suppress(Exception):
            self.emu.events.publish(await self.emu.store.write(write))

    async def _post_downlink(self, url: str, message: dict[str, Any]) -> tuple[int, Any]:
        own = f"{self.emu.settings.base_url}/iot-flow/downlinkMessages/"
        iotflow = self.emu.services.get("iotflow")
        if url.startswith(own) and iotflow is not None:
            # The emulator's own downlinkUrl: queued directly (the same service the route calls), so
            # the loop-back also works when nothing listens on the base URL (in-process tests).
            try:
                return 202, await iotflow.downlinks.post(url[len(own) :].split("?")[0], message)
            except ApiProblem as exc:
                return exc.status, {"message": exc.message}
        assert self.emu.http is not None
        response = await self.emu.http.post(url, json=message)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text[:200] or None


def loop_back(text: str, downlink: dict[str, Any]) -> dict[str, Any] | None:
    """The downlink to post for a request body, when it is a ``DevEUI_uplink`` with a ``downlinkUrl``."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    uplink = data.get("DevEUI_uplink") if isinstance(data, dict) else None
    if not isinstance(uplink, dict):
        return None
    url, deveui = uplink.get("downlinkUrl"), uplink.get("DevEUI")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or not isinstance(deveui, str):
        return None
    fport = downlink.get("FPort") or uplink.get("FPort") or 1
    return {"url": url, "message": {"DevEUI": deveui, "FPort": fport, "payload_hex": downlink["payload_hex"]}}


def encode_body(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def request_to_dict(row: sqlite3.Row, secrets: bool = False) -> dict[str, Any]:
    headers: dict[str, str] = {}
    for key, value in json.loads(row["headers"]):
        shown = value if secrets or not is_secret_header(key) else MASK
        headers[key] = f"{headers[key]}, {shown}" if key in headers else shown
    query: dict[str, Any] = {}
    for key, value in parse_qsl(row["query"], keep_blank_values=True):
        shown = value if secrets or not is_secret_header(key) else MASK
        if key in query:
            previous = query[key]
            query[key] = [*previous, shown] if isinstance(previous, list) else [previous, shown]
        else:
            query[key] = shown
    body = row["body"]
    try:
        # The edge policy's decoder: a body with 1e400 or a lone surrogate is shown as text only.
        decoded = jsonpolicy.decode(body) if body else None
    except (ValueError, TypeError):
        decoded = None
    return {
        "id": row["id"],
        "sink": row["sink"],
        "ts": row["ts"],
        "method": row["method"],
        "path": row["path"] or "/",
        "query": query,
        "headers": headers,
        "body": body,
        "json": decoded,
        "size": row["size"],
        "answer": json.loads(row["answer"]),
    }
