"""Attempt outcomes of one loop turn share one store job and one commit; a failing one fails alone."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

from iotcli.delivery.commits import OutcomeCommits
from iotcli.delivery.outbox import DELIVERED, Decision, Delivery, JournalCap, enqueue
from iotcli.store.db import Store
from iotcli.store.schema import CORE


class Journal:
    def stage(self, conn: sqlite3.Connection, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        cur = conn.execute("INSERT INTO events(ts, kind, data) VALUES (0, ?, '{}')", (kind,))
        return {"id": cur.lastrowid, "kind": kind}

    def publish(self, *events: dict[str, Any]) -> None:
        pass


def test_outcomes_share_a_commit_and_a_failing_one_fails_alone(tmp_path: Path) -> None:
    async def main() -> tuple[list[Any], dict[int, str], int, list[str]]:
        store = Store(tmp_path / "s.db")
        store.open([("core", CORE)])
        ids = store.run_sync(
            lambda c: [enqueue(c, kind="uplink", message={"n": n}, now=1.0) for n in range(3)]
        )
        commits: list[str] = []
        assert store._conn is not None
        store._conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
        outcomes = OutcomeCommits(store, Journal(), JournalCap(None))
        bad = Decision(DELIVERED, message={"not json": object()})  # cannot be stored: this one fails
        results = await asyncio.gather(
            *(
                outcomes.commit(
                    Delivery(did, "uplink", "pending", {}, 0, 1.0, 1.0),
                    None,
                    bad if n == 1 else Decision(DELIVERED, events=[("delivery.delivered", {})]),
                    2.0,
                )
                for n, did in enumerate(ids)
            ),
            return_exceptions=True,
        )
        commits_then = list(commits)
        statuses = dict(store.run_sync(lambda c: c.execute("SELECT id, status FROM deliveries").fetchall()))
        events = store.run_sync(lambda c: c.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        store.close()
        return results, statuses, events, commits_then

    results, statuses, events, commits = asyncio.run(main())
    assert isinstance(results[1], TypeError)
    assert [r[0]["kind"] for r in (results[0], results[2])] == ["delivery.delivered"] * 2  # type: ignore[index]
    assert statuses == {1: "delivered", 2: "pending", 3: "delivered"}
    assert events == 2
    assert len(commits) == 1  # the three outcomes in one commit
