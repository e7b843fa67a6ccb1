"""Coalesce concurrent ingest jobs into one store job.

The store already group-commits, but each ``store.write`` costs a queue hand-off to the writer
thread and a wake-up of the event loop per call; under load that thread ping-pong costs more than
the SQL. Here, calls that arrive while a batch is being written wait together and go to the store
as ONE job (one hand-off, one commit, one wake-up); each caller gets its own result or exception
once that commit is done, never before.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from iotcli.store.db import Store

T = TypeVar("T")

#: Jobs one batch takes at most (the rest wait for the next one).
MAX_BATCH = 256


class WriteBatcher(Generic[T]):
    """``await batcher.run(job)``: run ``job(conn)`` in a transaction shared with concurrent calls.

    Each job runs in its own savepoint: a job that raises leaves nothing behind, the others commit.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[tuple[Callable[[sqlite3.Connection], T], asyncio.Future[T]]] = []
        self._flushing = False

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._pending.append((job, fut))
        if not self._flushing:
            self._flushing = True
            loop.create_task(self._flush())
        return await fut

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                await self._write(batch)
        finally:
            self._flushing = False

    async def _write(self, batch: list[tuple[Callable[[sqlite3.Connection], T], asyncio.Future[T]]]) -> None:
        def run_all(conn: sqlite3.Connection) -> list[tuple[bool, Any]]:
            results: list[tuple[bool, Any]] = []
            for job, _fut in batch:
                conn.execute("SAVEPOINT batch_job")
                try:
                    results.append((True, job(conn)))
                except Exception as exc:  # noqa: BLE001 - handed to that job's caller
                    conn.execute("ROLLBACK TO batch_job")
                    results.append((False, exc))
                conn.execute("RELEASE batch_job")
            return results

        try:
            results = await self.store.write(run_all)
        except BaseException as exc:
            for _job, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_job, fut), (ok, value) in zip(batch, results, strict=True):
            if fut.done():
                continue
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)
