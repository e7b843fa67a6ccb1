"""An emulator reset while an attempt is in flight: the attempt's outcome is dropped with the wiped
delivery, not written against a missing row (it was logged as "failed in the worker: IntegrityError")."""

from __future__ import annotations

import logging

import pytest

from tests.emulator.iotflow_support import connect, deliveries, uplink
from tests.harness import InProcessEmulator, Reply, Sink


def test_reset_during_an_attempt_records_nothing_and_logs_no_error(
    emulator: InProcessEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    with Sink() as sink:
        sink.script = [Reply(200, delay=0.5)]
        connect(emulator, sink.url)
        uplink(emulator)
        sink.wait_for(1)  # the attempt is in flight: the sink holds its answer for 0.5 s
        with caplog.at_level(logging.ERROR, logger="iotcli"):
            r = emulator.http.post("/_emulator/reset")
            assert r.status_code == 200, r.text
            emulator.wait_idle()
        assert not [rec for rec in caplog.records if "failed in the worker" in rec.getMessage()]
        assert deliveries(emulator) == []
        # The emulator goes on working after it: a new connection forwards as usual.
        sink.script = []
        connect(emulator, sink.url)
        uplink(emulator)
        sink.wait_for(2)
        emulator.wait_idle()
        assert [d["status"] for d in deliveries(emulator)] == ["delivered"]
