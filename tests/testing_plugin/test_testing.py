"""iotcli.testing: the Emulator context manager and the pytest plugin (tested with pytester)."""

from __future__ import annotations

import pytest

from iotcli.testing import Emulator
from iotcli.waiting import SinkRequests

pytest_plugins = ["pytester"]


def test_emulator_context_manager_serves_and_resets() -> None:
    with Emulator() as emu:
        assert emu.url.startswith("http://127.0.0.1:")
        emu.client.create_device("d1", type="HTTP")
        assert [d["device"] for d in emu.client.list_devices()] == ["d1"]
        sink = emu.sink("app", respond=[503, 200])
        import httpx

        assert httpx.post(sink.url, json={"a": 1}).status_code == 503
        assert httpx.post(sink.url, json={"a": 2}).status_code == 200
        emu.wait(SinkRequests("app", count=2), timeout=5)
        assert len(sink.requests) == 2
        before = emu.client.clock()["now"]
        emu.advance(60)
        assert emu.client.clock()["now"] >= before + 60
        emu.reset()
        assert emu.client.list_devices() == []


def test_plugin_fixture_in_pytester(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_one(iot_emulator):
            iot_emulator.client.create_device("d1", type="HTTP")
            assert len(iot_emulator.client.list_devices()) == 1

        def test_two_is_reset(iot_emulator):
            assert iot_emulator.client.list_devices() == []
            assert iot_emulator.token and iot_emulator.user == "local"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_uplink_helpers_reach_the_sink(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from iotcli.waiting import SinkRequests

        def test_lorawan(iot_emulator):
            sink = iot_emulator.sink("app")
            iot_emulator.client.create_connection({
                "connectorId": "actility-http-iot", "name": "c1",
                "configuration": {"destinationURL": sink.url},
            })
            iot_emulator.lorawan_uplink("0018B20000000001", 2, "0a0b")
            iot_emulator.wait(SinkRequests("app", count=1), timeout=5)
            body = sink.requests[0]["body"]
            assert "0a0b" in str(body)

        def test_http_device(iot_emulator):
            iot_emulator.client.create_device("d1", type="HTTP")
            iot_emulator.send_uplink("d1", {"t": 21})
            assert iot_emulator.client.device_stats("d1")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
