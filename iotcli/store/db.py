"""The emulator's SQLite store.

One connection, used only from the emulator's event loop. Callers hand it functions
(``await store.write(fn)``) that run against that connection; jobs handed in while the loop is busy
are run together at its next turn, each in its own SAVEPOINT inside one transaction, committed once,
then answered. Concurrent requests thereby share a commit (group commit), and an answer is only given
after its data is committed. A job that raises rolls back only its own savepoint; the exception
reaches its caller.

Why not a writer thread: the jobs are short (SQLite without fsync on commit takes microseconds), and
a thread beside the loop made both fight over the GIL at every statement (SQLite releases it per
step), which cost more CPU than the statements themselves. SQLite's own automatic checkpoint (every
1,000 WAL pages) runs on the loop too: a checkpoint in another thread never finished while commits
kept coming, so the WAL was never restarted and grew by ~40 MB a second under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger("iotcli.store")

#: A job and the future its caller waits on (an asyncio future on the loop, else a thread's future).
Job = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any] | Future[Any]"]

#: How many jobs one commit may carry at most.
MAX_BATCH = 512
#: Group commit under load: when the last commit carried at least LOADED_JOBS jobs (concurrent
#: requests), the next transaction stays open while the following turns of the loop bring more jobs,
#: up to COMMIT_WINDOW real seconds after the last commit (see ``_settle``). A lone request (a test, a
#: CLI command) still commits at once.
LOADED_JOBS = 4
COMMIT_WINDOW = 0.004


class StoreClosed(RuntimeError):
    pass


class StoreLocked(RuntimeError):
    """Another process has this database open: two emulators must not share one outbox."""


class Store:
    """SQLite at ``path`` (None = in memory), driven from one event loop."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._closed = False
        self._lock_fd: int | None = None
        #: The loop that runs the jobs: the one running when the store was opened (None: run at once).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[Job] = []
        self._scheduled = False
        #: The transaction is open: jobs ran in it and wait in ``_held`` for its commit.
        self._open = False
        self._held: list[tuple[asyncio.Future[Any] | Future[Any], bool, Any]] = []
        #: A ``_settle`` is scheduled; jobs ran since the last one looked.
        self._settling = False
        self._fresh = False
        #: Loop time of the last commit, and how many jobs it carried (the load signal).
        self._last_commit = 0.0
        self._last_size = 0
        #: Serializes jobs run at once (no loop: start-up checks, or after the loop has ended).
        self._direct = threading.Lock()

    # -- life cycle ---------------------------------------------------------------------------
    def open(self, migrations: Iterable[tuple[str, list[str]]] = ()) -> None:
        """Open the database and apply migrations; jobs then run on the running loop, if any."""
        if self.path is not None:
            # Connection secrets the emulator must use (keys, proxy passwords) live in the database:
            # only its user may read it (SQLite gives the -wal and -shm files the database's mode).
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                os.chmod(self.path.parent, 0o700)  # whatever it was (an existing 0777 dir stays private too)
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
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

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
        """Finish every queued job, then close the connection (on the loop's thread, or after it ended)."""
        if self._closed:
            return
        self._closed = True
        self._run_pending()
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA optimize")
            if self.path is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
            self._conn = None
        self._unlock()

    # -- jobs ---------------------------------------------------------------------------------
    def _on_loop(self) -> bool:
        loop = self._loop
        if loop is None or loop.is_closed():
            return False
        try:
            return asyncio.get_running_loop() is loop
        except RuntimeError:
            return False

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Queue ``fn(conn)`` from any thread; the future resolves once its transaction is committed."""
        if self._closed:
            raise StoreClosed("the store is closed")
        fut: Future[T] = Future()
        loop = self._loop
        if self._on_loop():
            self._enqueue((fn, fut))
        elif loop is not None and loop.is_running():
            loop.call_soon_threadsafe(self._enqueue, (fn, fut))
        else:
            with self._direct:
                self._run_batch([(fn, fut)])
        return fut

    def schedule(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue ``fn(conn)`` like ``write`` from a callback that cannot await: its future resolves
        once the transaction is committed."""
        if self._closed:
            raise StoreClosed("the store is closed")
        if not self._on_loop():
            return asyncio.wrap_future(self.submit(fn))
        loop = self._loop
        assert loop is not None
        fut: asyncio.Future[T] = loop.create_future()
        self._enqueue((fn, fut))
        return fut

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` at the loop's next turn, with the other jobs queued by then, and return
        once their transaction is committed."""
        return await self.schedule(fn)

    # Reads go through the same connection and queue: they see every committed write, and wait for
    # nothing but the jobs queued before them.
    read = write

    def run_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` now and return its result (start-up, tests, other threads).

        On the loop's thread the jobs queued so far run first (in their order), then this one.
        """
        if self._on_loop():
            self._run_pending()
            fut: Future[T] = Future()
            self._run_batch([(fn, fut)])
            return fut.result()
        return self.submit(fn).result()

    def _enqueue(self, job: Job) -> None:
        if self._closed:
            self._fail(job, StoreClosed("the store is closed"))
            return
        self._pending.append(job)
        if not self._scheduled:
            self._scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._run_pending)

    def _run_pending(self) -> None:
        self._scheduled = False
        while self._pending:
            batch = self._pending[:MAX_BATCH]
            del self._pending[:MAX_BATCH]
            self._run_jobs(batch)
            self._fresh = True
        if not self._held:
            return
        loop = self._loop
        if (
            self._closed
            or loop is None
            or not loop.is_running()
            or self._last_size < LOADED_JOBS
            or len(self._held) >= MAX_BATCH
        ):
            self._commit()
        elif not self._settling:
            self._settling = True
            loop.call_soon(self._settle)

    def _settle(self) -> None:
        """Under load (the last commit carried several jobs), the transaction stays open while new jobs
        keep coming, turn after turn, up to COMMIT_WINDOW after the last commit: fewer, larger commits.
        The first turn that brings none commits (the loop is not kept waiting for nothing)."""
        self._settling = False
        if not self._open:
            return
        loop = self._loop
        if (
            (self._fresh or self._pending)
            and loop is not None
            and loop.time() < self._last_commit + COMMIT_WINDOW
        ):
            self._fresh = False
            self._settling = True
            loop.call_soon(self._settle)
            return
        self._commit()

    @staticmethod
    def _fail(job: Job, exc: BaseException) -> None:
        fut = job[1]
        if not fut.done():
            with contextlib.suppress(Exception):
                fut.set_exception(exc)

    def _run_batch(self, batch: list[Job]) -> None:
        """Run ``batch`` (with any jobs still waiting for their commit) and commit now."""
        self._run_jobs(batch)
        self._commit()

    def _run_jobs(self, batch: list[Job]) -> None:
        """Run each job in its own savepoint in the open transaction; answered once it commits."""
        conn = self._conn
        if conn is None:
            for job in batch:
                self._fail(job, StoreClosed("the store is closed"))
            return
        try:
            if not self._open:
                conn.execute("BEGIN IMMEDIATE")
                self._open = True
            for fn, fut in batch:
                if isinstance(fut, Future):
                    if not fut.set_running_or_notify_cancel():
                        continue
                elif fut.done():  # cancelled while waiting
                    continue
                conn.execute("SAVEPOINT job")
                try:
                    value = fn(conn)
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    self._held.append((fut, False, exc))
                else:
                    conn.execute("RELEASE job")
                    self._held.append((fut, True, value))
        except sqlite3.Error as exc:
            self._abort(exc, batch)

    def _commit(self) -> None:
        """Commit the open transaction, then answer every job it holds."""
        conn = self._conn
        if not self._open or conn is None:
            return
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._abort(exc, [])
            return
        self._open = False
        held, self._held = self._held, []
        self._last_size = len(held)
        if self._loop is not None and not self._loop.is_closed():
            self._last_commit = self._loop.time()
        for fut, ok, value in held:
            if fut.done():
                continue
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def _abort(self, exc: sqlite3.Error, batch: list[Job]) -> None:
        """The transaction failed: roll it back; every job in it (and in ``batch``) gets the error."""
        log.error("store commit failed: %s", exc)
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        self._open = False
        held, self._held = self._held, []
        for fut, _ok, _value in held:
            self._fail((lambda _c: None, fut), exc)
        for job in batch:
            self._fail(job, exc)


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
