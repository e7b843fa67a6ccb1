"""The store: jobs run on the event loop, grouped into one commit per turn; checkpoints off the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from iotcli.store.db import Store, StoreClosed

MIGRATIONS = [("t", ["CREATE TABLE items (id INTEGER PRIMARY KEY, val TEXT NOT NULL)"])]


def insert(val: str) -> Callable[[sqlite3.Connection], int]:
    def job(conn: sqlite3.Connection) -> int:
        return int(conn.execute("INSERT INTO items(val) VALUES (?)", (val,)).lastrowid or 0)

    return job


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM items").fetchone()[0])


def commits_of(store: Store) -> list[str]:
    """Every COMMIT the store's connection runs from now on."""
    seen: list[str] = []
    assert store._conn is not None
    store._conn.set_trace_callback(lambda sql: seen.append(sql) if sql == "COMMIT" else None)
    return seen


def test_jobs_of_one_loop_turn_share_one_commit_and_a_failing_job_fails_alone(tmp_path: Path) -> None:
    async def main() -> tuple[list[object], int, int]:
        store = Store(tmp_path / "s.db")
        store.open(MIGRATIONS)
        commits = commits_of(store)

        def bad(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO items(val) VALUES ('rolled back')")
            raise ValueError("job failed")

        jobs = [store.write(insert(f"v{i}")) for i in range(10)] + [store.write(bad)]
        results: list[object] = list(await asyncio.gather(*jobs, return_exceptions=True))
        total = await store.read(count)
        store.close()
        return results, total, len(commits)

    results, total, commits = asyncio.run(main())
    assert [r for r in results if isinstance(r, int)] == list(range(1, 11))
    assert isinstance(results[-1], ValueError) and str(results[-1]) == "job failed"
    assert total == 10  # the failing job's insert was rolled back, the others kept
    assert commits == 2  # the eleven jobs in one commit, the count in the next turn


def test_an_answer_comes_only_after_its_commit(tmp_path: Path) -> None:
    """What a job wrote is visible to another connection by the time its caller resumes."""

    async def main() -> int:
        store = Store(tmp_path / "s.db")
        store.open(MIGRATIONS)
        await store.write(insert("x"))
        other = sqlite3.connect(tmp_path / "s.db")
        seen = count(other)
        other.close()
        store.close()
        return seen

    assert asyncio.run(main()) == 1


def test_jobs_from_other_threads_run_on_the_loop(tmp_path: Path) -> None:
    async def main() -> tuple[list[int], set[str]]:
        store = Store(tmp_path / "s.db")
        store.open(MIGRATIONS)
        loop_thread = threading.current_thread().name
        threads: set[str] = set()

        def job(conn: sqlite3.Connection) -> int:
            threads.add(threading.current_thread().name)
            return insert("from a thread")(conn)

        ids = await asyncio.gather(*(asyncio.to_thread(store.run_sync, job) for _ in range(5)))
        store.close()
        return sorted(ids), threads - {loop_thread}

    ids, foreign = asyncio.run(main())
    assert ids == [1, 2, 3, 4, 5]
    assert foreign == set()


def test_run_sync_on_the_loop_runs_the_queued_jobs_first(tmp_path: Path) -> None:
    async def main() -> tuple[int, list[int]]:
        store = Store(tmp_path / "s.db")
        store.open(MIGRATIONS)
        queued = [asyncio.ensure_future(store.write(insert(f"q{i}"))) for i in range(3)]
        await asyncio.sleep(0)  # the writes are queued, not yet run
        seen = store.run_sync(count)
        ids = list(await asyncio.gather(*queued))
        store.close()
        return seen, ids

    seen, ids = asyncio.run(main())
    assert seen == 3
    assert ids == [1, 2, 3]


def test_without_a_loop_jobs_run_at_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.open(MIGRATIONS)
    assert store.submit(insert("now")).result(timeout=0) == 1
    assert store.run_sync(count) == 1
    store.close()


def test_a_cancelled_write_is_not_run(tmp_path: Path) -> None:
    async def main() -> int:
        store = Store(tmp_path / "s.db")
        store.open(MIGRATIONS)
        task = asyncio.ensure_future(store.write(insert("never")))
        await asyncio.sleep(0)  # queued
        task.cancel()
        kept = await store.write(insert("kept"))
        total = await store.read(count)
        store.close()
        return kept * 100 + total

    assert asyncio.run(main()) == 101  # id 1 and one row: the cancelled job never ran


def test_close_runs_what_is_queued_then_refuses(tmp_path: Path) -> None:
    async def main() -> None:
        store = Store(tmp_path / "s.db")
        store.open(MIGRATIONS)
        queued = asyncio.ensure_future(store.write(insert("last")))
        await asyncio.sleep(0)
        store.close()
        assert await queued == 1
        with pytest.raises(StoreClosed):
            await store.write(insert("too late"))

    asyncio.run(main())
    other = sqlite3.connect(tmp_path / "s.db")
    assert count(other) == 1
    other.close()


def test_the_wal_stays_bounded_under_continuous_writes(tmp_path: Path) -> None:
    """Checkpoints keep up with commits that never pause, so the WAL is restarted and stays small."""
    path = tmp_path / "s.db"
    wal = Path(str(path) + "-wal")

    async def main() -> tuple[int, int]:
        store = Store(path)
        store.open(MIGRATIONS)
        largest = 0
        for _ in range(200):  # 200 commits of 100 KB each: 20 MB through the WAL
            await store.write(
                lambda c: c.executemany("INSERT INTO items(val) VALUES (?)", [("x" * 1000,)] * 100)
            )
            largest = max(largest, wal.stat().st_size if wal.exists() else 0)
        total = await store.read(count)
        store.close()
        return largest, total

    largest, total = asyncio.run(main())
    assert total == 20_000
    assert largest < 8_000_000  # SQLite checkpoints every 1,000 pages (4 MB): the WAL never held the 20 MB
    assert not wal.exists() or wal.stat().st_size == 0  # close() truncates it


def test_under_load_jobs_of_the_next_turns_share_one_commit_and_a_lone_job_commits_at_once(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        store = Store(tmp_path / "s.db")
        store.open(MIGRATIONS)
        commits = commits_of(store)
        await asyncio.gather(*(store.write(insert(f"a{i}")) for i in range(8)))  # concurrent: one commit
        assert len(commits) == 1
        # Load: the jobs of the following turns run at once, in one transaction left open for them...
        first = asyncio.ensure_future(store.write(insert("b1")))
        for _ in range(2):
            await asyncio.sleep(0)
        assert store._open and not first.done()  # ran, not answered: not committed yet
        second = asyncio.ensure_future(store.write(insert("b2")))  # the next turn brings another
        assert await asyncio.gather(first, second) == [9, 10]
        # ... and commit together once a turn brings none.
        assert len(commits) == 2
        other = sqlite3.connect(tmp_path / "s.db")
        assert count(other) == 10
        other.close()
        # That commit carried two jobs (no load): a lone job now commits at once.
        third = asyncio.ensure_future(store.write(insert("c")))
        for _ in range(3):
            await asyncio.sleep(0)
        assert third.done() and len(commits) == 3  # no timer waited for
        store.close()

    asyncio.run(main())
