"""The deliveries journal is capped as attempts are written (issue 11), never losing a pending delivery."""

from __future__ import annotations

import sqlite3
import time

from iotcli.delivery import outbox
from iotcli.delivery.outbox import PENDING, JournalCap, enqueue
from iotcli.emulator.settings import EmulatorSettings
from iotcli.store.db import Store
from iotcli.store.schema import CORE
from tests.emulator.iotflow_support import connect, uplink
from tests.harness import TEST_TOKEN, InProcessEmulator, Sink, free_port


def journal(statuses: list[str]) -> Store:
    """An in-memory store with one delivery per status (ids 1..n) and one attempt for each."""
    store = Store(None)
    store.open([("core", CORE)])

    def fill(conn: sqlite3.Connection) -> None:
        for n, status in enumerate(statuses):
            did = enqueue(conn, kind="uplink", message={"n": n}, now=1.0)
            conn.execute("UPDATE deliveries SET status = ? WHERE id = ?", (status, did))
            conn.execute(
                "INSERT INTO delivery_attempts(delivery_id, n, ts, method, url, headers) VALUES (?,1,1,'POST','u','{}')",
                (did,),
            )

    store.run_sync(fill)
    return store


def rows(store: Store) -> dict[int, str]:
    return dict(store.run_sync(lambda c: c.execute("SELECT id, status FROM deliveries").fetchall()))


def test_cap_keeps_the_newest_finished_and_every_pending_delivery() -> None:
    statuses = ["delivered", "pending", "failed", "dropped", "pending", "expired"] * 10  # ids 1..60
    store = journal(statuses)
    cap = JournalCap(12)
    deleted = store.run_sync(cap.apply)
    kept = rows(store)
    # Finished deliveries more than 12 ids behind the newest (60) went; pending ones all stayed.
    assert deleted == sum(1 for i, s in enumerate(statuses, 1) if i <= 48 and s != PENDING)
    assert {i for i, s in kept.items() if s == PENDING} == {
        i for i, s in enumerate(statuses, 1) if s == PENDING
    }
    assert {i for i, s in kept.items() if s != PENDING} == {
        i for i, s in enumerate(statuses, 1) if i > 48 and s != PENDING
    }
    # Their attempts went with them (ON DELETE CASCADE); the pending ones' attempts stayed.
    attempts = store.run_sync(
        lambda c: {r[0] for r in c.execute("SELECT delivery_id FROM delivery_attempts")}
    )
    assert attempts == set(kept)
    # The same rule as the pruner: it finds nothing more to delete.
    assert store.run_sync(lambda c: outbox.prune(c, 12)) == 0
    # Within the cap, a commit deletes nothing.
    assert store.run_sync(cap.apply) == 0
    store.close()


def test_cap_deletes_a_large_excess_in_steps() -> None:
    store = journal(["delivered"] * 1000)
    cap = JournalCap(100)
    steps = []
    while (n := store.run_sync(cap.apply)) > 0:
        steps.append(n)
    assert max(steps) <= outbox.CAP_STEP and sum(steps) == 900
    assert sorted(rows(store)) == list(range(901, 1001))
    store.close()


def test_a_delivery_the_cap_passed_while_pending_goes_when_it_finishes() -> None:
    store = journal(["pending"] + ["delivered"] * 30)  # id 1 pending, 2..31 delivered
    cap = JournalCap(10)
    store.run_sync(cap.apply)
    assert rows(store)[1] == PENDING  # behind the cap, but pending: kept
    store.run_sync(lambda c: c.execute("UPDATE deliveries SET status = 'delivered' WHERE id = 1"))
    # The transaction that records its outcome says so: it goes now, not when the pruner runs.
    assert store.run_sync(lambda c: cap.apply(c, [1])) == 1
    assert sorted(rows(store)) == list(range(22, 32))
    # A delivery within the cap that finishes stays.
    assert store.run_sync(lambda c: cap.apply(c, [31])) == 0 and 31 in rows(store)
    store.close()


def test_no_cap_without_a_limit() -> None:
    store = journal(["delivered"] * 20)
    assert store.run_sync(JournalCap(None).apply) == 0 and len(rows(store)) == 20
    store.close()


def test_forwarding_holds_the_cap_between_pruner_runs_and_keeps_waiting_uplinks() -> None:
    # The pruner is off for the test (an hour between runs): only the write-time cap can hold the journal.
    settings = EmulatorSettings(token=TEST_TOKEN, max_deliveries=20, prune_every=3600)
    with InProcessEmulator(settings) as emu, Sink() as sink:
        live = connect(emu, sink.url, name="live")
        dead = connect(emu, f"http://127.0.0.1:{free_port()}/up", name="dead")  # nothing listens there
        for _ in range(60):
            uplink(emu)
        sink.wait_for(60)
        emu.wait_idle()
        deadline = time.monotonic() + 5

        def count(conn: sqlite3.Connection) -> dict[str, int]:
            return dict(
                conn.execute(
                    "SELECT connection || ':' || status, COUNT(*) FROM deliveries GROUP BY 1"
                ).fetchall()
            )

        while time.monotonic() < deadline:
            counts = emu.run(emu.emu.store.read(count))
            if counts.get(f"{live}:delivered", 0) <= 20:
                break
            time.sleep(0.02)
        # Every uplink reached the live destination; the journal keeps at most 20 finished deliveries...
        assert len(sink.requests) == 60
        assert counts.get(f"{live}:delivered", 0) <= 20
        # ... and every uplink waiting for the unreachable one (acknowledged, not yet delivered).
        assert counts[f"{dead}:pending"] == 60
        orphans = emu.run(
            emu.emu.store.read(
                lambda c: c.execute(
                    "SELECT COUNT(*) FROM delivery_attempts WHERE delivery_id NOT IN (SELECT id FROM deliveries)"
                ).fetchone()[0]
            )
        )
        assert orphans == 0
