"""The emulator's SQLite store.

One thread owns the one connection. Callers hand it functions (``await store.write(fn)``) that run
against that connection; the thread takes every job waiting in the queue, runs each in its own
SAVEPOINT inside one transaction, commits once, then answers all of them. Concurrent requests
thereby share a commit (group commit), and an answer is only given after its data is committed.
A job that raises rolls back only its own savepoint; the exception reaches its caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("iotcli.store")

Job = tuple[Callable[[sqlite3.Connection], Any], Future[Any]]

#: How many jobs one commit may carry at most.
MAX_BATCH = 512


class StoreClosed(RuntimeError):
    pass


class StoreLocked(RuntimeError):
    """Another process has this database open: two emulators must not share one outbox."""


class Store:
    """SQLite at ``path`` (None = in memory), driven by one writer thread."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._lock_fd: int | None = None

    # -- life cycle ---------------------------------------------------------------------------
    def open(self, migrations: Iterable[tuple[str, list[str]]] = ()) -> None:
        """Open the database, apply migrations, and start the writer thread."""
        if self.path is not None:
            # Connection secrets the emulator must use (keys, proxy passwords) live in the database:
            # only its user may read it (SQLite gives the -wal and -shm files the database's mode).
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            with contextlib.suppress(OSError):
                os.chmod(self.path, 0o600)  # one made by an older version
            self._lock()
            target = str(self.path)
        else:
            target = ":memory:"
        try:
            conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        except BaseException:
            self._unlock()
            raise
        conn.row_factory = sqlite3.Row
        try:
            self._configure(conn)
            apply_migrations(conn, migrations)
        except BaseException:
            conn.close()
            self._unlock()
            raise
        self._conn = conn
        self._thread = threading.Thread(target=self._run, name="iotcli-store-writer", daemon=True)
        self._thread.start()

    def _configure(self, conn: sqlite3.Connection) -> None:
        if self.path is not None:
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a committed transaction survives a killed process;
            # only an OS crash or power loss may lose the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")

    def _lock(self) -> None:
        """Hold an exclusive lock on ``<db>.lock`` while open (released by the OS if the process dies)."""
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks here
            return
        assert self.path is not None
        fd = os.open(str(self.path) + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreLocked(f"{self.path} is in use by another process") from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the lock
            self._lock_fd = None

    def close(self) -> None:
        """Finish every queued job, then close the connection."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA optimize")
            self._conn.close()
            self._conn = None
        self._unlock()

    # -- jobs ---------------------------------------------------------------------------------
    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> Future[T]:
        if self._closed:
            raise StoreClosed("the store is closed")
        fut: Future[T] = Future()
        self._queue.put((fn, fut))
        return fut

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in the writer thread; return once its transaction is committed."""
        return await asyncio.wrap_future(self.submit(fn))

    # Reads go through the same thread: they see every committed write, and SQLite reads are
    # fast enough that a second connection would cost more in coordination than it saves.
    read = write

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Blocking variant for code that is not on the event loop (start-up, tests, workers' threads)."""
        return self.submit(fn).result()

    def _run(self) -> None:
        assert self._conn is not None
        conn = self._conn
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            batch: list[Job] = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            self._run_batch(conn, batch)

    def _run_batch(self, conn: sqlite3.Connection, batch: list[Job]) -> None:
        results: list[tuple[Future[Any], bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, fut in batch:
                if not fut.set_running_or_notify_cancel():
                    continue
                conn.execute("SAVEPOINT job")
                try:
                    value = fn(conn)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    results.append((fut, False, exc))
                else:
                    conn.execute("RELEASE job")
                    results.append((fut, True, value))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("store commit failed: %s", exc)
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            for fut, _ok, _value in results:
                fut.set_exception(exc)
            for _fn, fut in batch:
                if not fut.done():
                    with contextlib.suppress(Exception):
                        fut.set_exception(exc)
            return
        for fut, ok, value in results:
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)


def apply_migrations(conn: sqlite3.Connection, migrations: Iterable[tuple[str, list[str]]]) -> None:
    """Apply each domain's statements it has not applied yet; versions are kept per domain.

    A domain's list is append-only: statement N is applied once, when the stored version is below N.
    """
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_versions (domain TEXT PRIMARY KEY, version INTEGER NOT NULL)"
    )
    for domain, statements in migrations:
        row = conn.execute("SELECT version FROM schema_versions WHERE domain = ?", (domain,)).fetchone()
        current = row[0] if row else 0
        if current >= len(statements):
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for stmt in statements[current:]:
                for part in split_sql(stmt):
                    conn.execute(part)
            conn.execute(
                "INSERT INTO schema_versions(domain, version) VALUES (?, ?) "
                "ON CONFLICT(domain) DO UPDATE SET version = excluded.version",
                (domain, len(statements)),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def split_sql(script: str) -> list[str]:
    """Split a migration into statements (our migrations hold no ';' inside literals or triggers)."""
    return [s.strip() for s in script.split(";") if s.strip()]
