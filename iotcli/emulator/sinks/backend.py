"""Sinks: named local destinations that record every request and answer from a script.

The routes (``routes.py``) only parse and answer; this object owns the state, the SQL and the rules:
which answer a request gets (the status sequence, then the default), the journal of requests (capped
like the event journal), the events, and the class-A loop-back (a ``DevEUI_downlink`` posted to the
``downlinkUrl`` of each ``DevEUI_uplink`` received, sent by ``loopback.py``). ``records.py`` shapes a
recorded request for the API.
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

from iotcli.delivery.outbox import MAX_JOURNAL_BODY
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.sinks.loopback import LoopBack, loop_back
from iotcli.emulator.sinks.records import encode_body, request_to_dict
from iotcli.sinkspec import RESET, TIMEOUT, ScriptError, SinkScript, parse_script

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

log = logging.getLogger("iotcli.emulator")

#: Requests kept per sink; older ones are pruned as new ones arrive (and, with ``--journal-max-age``,
#: those older than that, like the journals).
MAX_REQUESTS_PER_SINK = 10_000


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
        self.loopback = LoopBack(emu, self._tasks)

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
        script = {k: v for k, v in body.items() if k != "name"}
        # JSON has one number type: 200.0 is the integer 200 (as the route's schema, type integer, says).
        if isinstance(script.get("respond"), list):
            script["respond"] = [_integral(v) for v in script["respond"]]
        if "default" in script:
            script["default"] = _integral(script["default"])
        downlink = script.get("downlink")
        if isinstance(downlink, dict) and "FPort" in downlink:
            script["downlink"] = {**downlink, "FPort": _integral(downlink["FPort"])}
        try:
            return parse_script(script)
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
        if plan.downlink is not None:
            self.loopback.send(name, plan.request_id, plan.downlink)


def _integral(value: Any) -> Any:
    """``200.0`` -> ``200``; anything else as it is."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
