"""Load, scaled down: the code of benchmarks/soak.py against a real `iotcli emulate` with small counts.

The full numbers (20,000 uplinks at 64 connections; 5,000 through strict connections to a 30%-failing
destination) run with `python benchmarks/soak.py`; here: hundreds, same assertions (0 lost, 0 duplicated).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from benchmarks.soak import (
    FlakySink,
    check_ingest,
    deliver_all,
    send_ingest,
    send_uplinks,
    setup_connections,
    setup_ingest,
)
from iotcli.emulator.settings import EmulatorSettings
from tests.harness import TEST_TOKEN, EmulatorProcess, InProcessEmulator

UPLINKS = 600
DELIVERIES = 150


@pytest.fixture
def process(tmp_path: Path) -> Iterator[EmulatorProcess]:
    with EmulatorProcess(tmp_path / "state", extra=["--time-scale", "0.001"]) as emu:
        yield emu


def test_ingest_at_64_connections_loses_and_duplicates_nothing(process: EmulatorProcess) -> None:
    with process.client() as client:
        device_token = setup_ingest(client, "soak", "soak")
        result = asyncio.run(send_ingest(process.url, device_token, UPLINKS, 64))
        check_ingest(client, "soak", result)
    assert result.sent == UPLINKS
    assert result.acknowledged == UPLINKS
    assert (result.stored, result.lost, result.duplicated) == (UPLINKS, 0, 0)


def test_strict_connections_to_a_flaky_destination_lose_and_duplicate_nothing(
    process: EmulatorProcess,
) -> None:
    async def scenario() -> None:
        sink = await FlakySink(failure_rate=0.3, seed=11).start()
        try:
            with process.client() as client:
                ids = setup_connections(client, sink.url, 3)
            result = await send_uplinks(process.url, TEST_TOKEN, DELIVERIES, 32, ids)
            auth = {"Authorization": f"Bearer {TEST_TOKEN}"}
            async with httpx.AsyncClient(base_url=process.url, headers=auth, timeout=30) as client:
                await deliver_all(client, sink, result, timeout=60)
        finally:
            await sink.stop()
        assert len(result.accepted) == result.sent == DELIVERIES
        assert (result.delivered, result.lost, result.duplicated) == (DELIVERIES, 0, 0)
        # The destination really failed ~30% of the time, so strict mode had work to do.
        assert result.destination_failures > DELIVERIES * 0.15
        assert result.destination_requests == DELIVERIES + result.destination_failures

    asyncio.run(scenario())


# --- memory bounded: the journals are capped and pruned ---------------------------------------------


@pytest.fixture
def capped() -> Iterator[InProcessEmulator]:
    settings = EmulatorSettings(
        data_dir=None,
        token=TEST_TOKEN,
        max_events=100,
        max_deliveries=100,
        time_scale=0.001,
        prune_every=0.05,
    )
    with InProcessEmulator(settings) as emu:
        yield emu


def counts(emu: InProcessEmulator) -> dict[str, int]:
    def read(conn):  # type: ignore[no-untyped-def]
        return {
            "events": conn.execute("SELECT COUNT(*) FROM events").fetchone()[0],
            "deliveries": conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()[0],
            "pending": conn.execute("SELECT COUNT(*) FROM deliveries WHERE status = 'pending'").fetchone()[0],
            "attempts": conn.execute("SELECT COUNT(*) FROM delivery_attempts").fetchone()[0],
        }

    result: dict[str, int] = emu.run(emu.emu.store.read(read))
    return result


def test_journals_are_capped_by_count_and_pending_deliveries_are_kept(capped: InProcessEmulator) -> None:
    emu = capped.emu
    from iotcli.delivery.outbox import enqueue

    def fill(conn):  # type: ignore[no-untyped-def]
        now = emu.clock.now()
        for i in range(500):
            emu.events.stage(conn, "test.filler", {"n": i})
        for i in range(300):
            # Due in a day, so the worker leaves them alone; the first 250 are made final by hand.
            did = enqueue(conn, kind="unknown-kind", message={"n": i}, now=now, due=now + 86400)
            if i < 250:
                conn.execute("UPDATE deliveries SET status = 'delivered' WHERE id = ?", (did,))

    capped.run(emu.store.write(fill))
    end = time.monotonic() + 10
    while time.monotonic() < end:
        c = counts(capped)
        if c["events"] <= 100 and c["deliveries"] <= 150:
            break
        time.sleep(0.05)
    c = counts(capped)
    assert c["events"] <= 100
    # Every pending delivery survives; only finished ones beyond the cap go.
    assert c["pending"] == 50
    assert c["deliveries"] - c["pending"] <= 100


def test_journals_are_pruned_by_age(capped: InProcessEmulator) -> None:
    emu = capped.emu
    emu.settings.journal_max_age = 3600
    emu.settings.prune_every = 3600  # the test prunes by itself
    capped.run(emu.events.record("test.old"))
    capped.advance(7200)
    capped.run(emu.events.record("test.new"))
    pruned = capped.run(emu.prune_journals())
    assert pruned["events"] >= 1
    kinds = [e["kind"] for e in capped.http.get("/_emulator/events", params={"limit": 1000}).json()]
    assert "test.old" not in kinds and "test.new" in kinds


def test_expired_oauth_tokens_are_dropped_a_day_after_expiry(capped: InProcessEmulator) -> None:
    form = {"grant_type": "password", "username": "local", "password": TEST_TOKEN}
    token = capped.anon("POST", "/oauth/token", data=form).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert capped.anon("GET", "/_emulator/clock", headers=auth).status_code == 200
    capped.advance(3600 + 2 * 86400)
    assert capped.run(capped.emu.prune_journals())["tokens"] == 1  # the access token (refresh lives 30 days)
    r = capped.anon("GET", "/_emulator/clock", headers=auth)
    assert r.status_code == 401


def test_emulate_journal_options_reach_the_emulator(monkeypatch: pytest.MonkeyPatch) -> None:
    from iotcli.emulator import server
    from iotcli.emulator.settings import EmulatorSettings as Settings
    from tests.harness import run_cli

    seen: list[Settings] = []
    monkeypatch.setattr(server, "serve", lambda settings, sock, **kw: seen.append(settings))
    args = ["--journal-max-events", "500", "--journal-max-deliveries", "300", "--journal-max-age", "2d"]
    r = run_cli(["emulate", "--in-memory", "--port", "0", *args])
    assert r.exit_code == 0, r.stderr
    [settings] = seen
    assert (settings.max_events, settings.max_deliveries, settings.journal_max_age) == (500, 300, 2 * 86400)


def test_a_large_excess_is_pruned_in_small_store_jobs(
    capped: InProcessEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store runs on the event loop: pruning goes in jobs of PRUNE_CHUNK rows, so requests get a turn."""
    from iotcli.delivery.outbox import enqueue
    from iotcli.emulator import core

    emu = capped.emu
    emu.settings.prune_every = 3600  # the test prunes by itself
    emu.settings.journal_max_age = 3600
    monkeypatch.setattr(core, "PRUNE_CHUNK", 40)

    def fill(conn):  # type: ignore[no-untyped-def]
        now = emu.clock.now()
        # Raw rows: stage() caps at insert time; an excess like this is what a lowered
        # --journal-max-events (or an older version) leaves for the pruner.
        conn.executemany(
            "INSERT INTO events(ts, kind, data) VALUES (?, 'test.filler', ?)",
            [(emu.clock.now_ms(), f'{{"n": {i}}}') for i in range(1000)],
        )
        for i in range(400):
            did = enqueue(conn, kind="unknown-kind", message={"n": i}, now=now, due=now + 86400)
            if i % 4:  # every fourth stays pending
                conn.execute("UPDATE deliveries SET status = 'delivered' WHERE id = ?", (did,))

    capped.run(emu.store.write(fill))
    jobs: list[int] = []
    write = emu.store.write

    async def counting_write(fn):  # type: ignore[no-untyped-def]
        jobs.append(1)
        return await write(fn)

    monkeypatch.setattr(emu.store, "write", counting_write)
    pruned = capped.run(emu.prune_journals())
    c = counts(capped)
    assert c["events"] == 100 and pruned["events"] >= 900
    assert c["pending"] == 100 and c["deliveries"] - c["pending"] <= 100
    assert len(jobs) >= 900 // 40  # in chunks, not one job
