"""Attempt outcomes committed in groups: the attempts that finish in one loop turn share one store job.

Each outcome (the attempt's record, the decision, its events) keeps its own savepoint inside that job,
so one failing write fails only its own delivery. The same job holds the deliveries journal to its cap
(``outbox.JournalCap``): these commits are what makes deliveries finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from typing import TYPE_CHECKING, Any

from iotcli.delivery.outbox import AttemptResult, Decision, Delivery, JournalCap, commit_outcome
from iotcli.delivery.protocols import Journal

if TYPE_CHECKING:
    from iotcli.store.db import Store

Outcome = tuple[Delivery, AttemptResult | None, Decision, float, "asyncio.Future[list[dict[str, Any]]]"]


class OutcomeCommits:
    def __init__(self, store: Store, journal: Journal, cap: JournalCap) -> None:
        self.store = store
        self.journal = journal
        self.cap = cap
        #: Outcomes of this loop turn, committed together by ``_flush``.
        self._batch: list[Outcome] = []

    async def commit(
        self, delivery: Delivery, result: AttemptResult | None, decision: Decision, now: float
    ) -> list[dict[str, Any]]:
        """Record the attempt (if any) and apply the decision; returns the staged events once committed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[dict[str, Any]]] = loop.create_future()
        self._batch.append((delivery, result, decision, now, done))
        if len(self._batch) == 1:
            loop.call_soon(self._flush)
        return await done

    def _flush(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        stage = self.journal.stage

        def write(conn: sqlite3.Connection) -> list[tuple[bool, Any]]:
            out: list[tuple[bool, Any]] = []
            for delivery, result, decision, now, _done in batch:
                conn.execute("SAVEPOINT attempt")
                try:
                    staged = commit_outcome(conn, delivery, result, decision, now, stage)
                except Exception as exc:  # noqa: BLE001 - handed to that delivery's attempt
                    conn.execute("ROLLBACK TO attempt")
                    conn.execute("RELEASE attempt")
                    out.append((False, exc))
                else:
                    conn.execute("RELEASE attempt")
                    out.append((True, staged))
            with contextlib.suppress(sqlite3.Error):  # the cap is housekeeping: it never fails an attempt
                self.cap.apply(conn)
            return out

        def finish(fut: asyncio.Future[list[tuple[bool, Any]]]) -> None:
            if fut.cancelled():
                for *_rest, done in batch:
                    done.cancel()
                return
            error = fut.exception()
            outcomes = fut.result() if error is None else [(False, error)] * len(batch)
            for (_d, _r, _dec, _now, done), (ok, value) in zip(batch, outcomes, strict=True):
                if done.done():
                    continue
                if ok:
                    done.set_result(value)
                else:
                    done.set_exception(value)

        try:
            committed = self.store.schedule(write)
        except Exception as exc:  # noqa: BLE001 - e.g. the store is closed
            for *_rest, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        committed.add_done_callback(finish)
