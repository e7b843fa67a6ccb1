"""The delivery worker under a backlog: rows are read from the outbox once, and delivered exactly once."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from iotcli.delivery import worker as worker_module
from iotcli.delivery.worker import DeliveryWorker
from tests.emulator.iotflow_support import connect, deliveries, uplink
from tests.harness import InProcessEmulator, Reply, Sink

UPLINKS = 300


def test_a_backlog_is_read_once_from_the_outbox_and_delivered_exactly_once(
    emulator: InProcessEmulator, sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Few handed-over deliveries wait in memory: the rest of the burst is left to scans of the outbox.
    monkeypatch.setattr(worker_module, "MAX_WAITING", 4)
    scanned: list[int] = []
    scan = DeliveryWorker._scan

    def counting_scan(self: DeliveryWorker, conn: sqlite3.Connection) -> Any:
        due, nxt = scan(self, conn)
        scanned.append(len(due))
        return due, nxt

    monkeypatch.setattr(DeliveryWorker, "_scan", counting_scan)
    # The first 32 attempts (the lane's width) hang on, so the burst piles up in the outbox.
    sink.script = [Reply(200, delay=2.0)] * 32
    connect(emulator, sink.url)
    sent = [uplink(emulator)["FCntUp"] for _ in range(UPLINKS)]

    sink.wait_for(UPLINKS, timeout=60)
    emulator.wait_idle()
    emulator.advance(60)  # any resend, scheduled or due, is sent now ...
    emulator.wait_idle()  # ... and has arrived
    received = [r.json()["DevEUI_uplink"]["FCntUp"] for r in sink.requests]
    assert sorted(received) == sorted(sent)  # every uplink, once
    assert len(deliveries(emulator, status="pending")) == 0
    # The burst behind the hanging attempts went through scans of the outbox ...
    assert sum(scanned) >= 64, scanned
    # ... and rows a scan read but could not start waited in memory: each row read about once, not
    # once per finished attempt.
    assert sum(scanned) <= UPLINKS + 64, scanned
    assert len(scanned) <= 30, scanned
