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
        #: Outcomes waiting for the store job queued for them (it takes every one there is when it runs).
        self._batch: list[Outcome] = []
        self._queued = False

    async def commit(
        self, delivery: Delivery, result: AttemptResult | None, decision: Decision, now: float
    ) -> list[dict[str, Any]]:
        """Record the attempt (if any) and apply the decision; returns the staged events once committed."""
        done: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self._batch.append((delivery, result, decision, now, done))
        if not self._queued:
            self._queue()
        return await done

    def _queue(self) -> None:
        """One store job for the outcomes of this loop turn. It runs in the store's next transaction,
        beside the ingress writes queued meanwhile (one commit for both)."""
        taken: list[Outcome] = []
        stage = self.journal.stage

        def one(conn: sqlite3.Connection, outcome: Outcome) -> tuple[bool, Any]:
            delivery, result, decision, now, _done = outcome
            conn.execute("SAVEPOINT attempt")
            try:
                staged = commit_outcome(conn, delivery, result, decision, now, stage)
            except Exception as exc:  # noqa: BLE001 - handed to that delivery's attempt
                conn.execute("ROLLBACK TO attempt")
                conn.execute("RELEASE attempt")
                return False, exc
            conn.execute("RELEASE attempt")
            return True, staged

        def write(conn: sqlite3.Connection) -> list[tuple[bool, Any]]:
            self._queued = False
            taken.extend(self._batch)
            self._batch = []
            # All at once in one savepoint; only if one of them fails, each again in its own.
            conn.execute("SAVEPOINT outcomes")
            try:
                out: list[tuple[bool, Any]] = [
                    (True, commit_outcome(conn, d, r, dec, now, stage)) for d, r, dec, now, _f in taken
                ]
            except Exception:  # noqa: BLE001 - found again below, and handed to its attempt
                conn.execute("ROLLBACK TO outcomes")
                out = [one(conn, outcome) for outcome in taken]
            conn.execute("RELEASE outcomes")
            with contextlib.suppress(sqlite3.Error):  # the cap is housekeeping: it never fails an attempt
                self.cap.apply(conn, [d.id for d, *_rest in taken])
            return out

        def finish(fut: asyncio.Future[list[tuple[bool, Any]]]) -> None:
            if not taken:  # the job never ran (the store failed or closed first)
                self._queued = False
                taken.extend(self._batch)
                self._batch = []
            if fut.cancelled():
                for *_rest, done in taken:
                    done.cancel()
                return
            error = fut.exception()
            outcomes = fut.result() if error is None else [(False, error)] * len(taken)
            for (_d, _r, _dec, _now, done), (ok, value) in zip(taken, outcomes, strict=True):
                if done.done():
                    continue
                if ok:
                    done.set_result(value)
                else:
                    done.set_exception(value)

        self._queued = True
        try:
            committed = self.store.schedule(write)
        except Exception as exc:  # noqa: BLE001 - e.g. the store is closed
            self._queued = False
            batch, self._batch = self._batch, []
            for *_rest, done in batch:
                if not done.done():
                    done.set_exception(exc)
            return
        committed.add_done_callback(finish)
