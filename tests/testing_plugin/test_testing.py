"""iotcli.testing: the Emulator context manager and the pytest plugin (tested with pytester)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from iotcli.testing import Emulator
from iotcli.waiting import SinkRequests

pytest_plugins = ["pytester"]
DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


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
    """The plugin as a user's test run sees it: loaded from its ``pytest11`` entry point."""
    pytester.makepyfile(
        """
        from iotcli.waiting import SinkRequests

        def test_one(iot_emulator):
            iot_emulator.client.create_device("d1", type="HTTP")
            assert len(iot_emulator.client.list_devices()) == 1

        def test_two_is_reset(iot_emulator):
            assert iot_emulator.client.list_devices() == []
            assert iot_emulator.token and iot_emulator.user == "local"

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
            assert iot_emulator.client.device_stats("d1")["connected"] is True
        """
    )
    # docs/testing.md's application-server test, as the page shows it
    (app_test,) = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S) if "App(" in b]
    pytester.makepyfile(test_app_server=app_test)
    # One run for all (a subprocess: the plugin comes from the installed entry point, as for users).
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)


def test_tls_emulator_serves_https_with_its_own_ca() -> None:
    import ssl

    import httpx

    with Emulator(tls=True) as emu:
        assert emu.url.startswith("https://127.0.0.1:") and emu.ca_file is not None and emu.ca_file.exists()
        assert emu.client.health()
        with pytest.raises(httpx.ConnectError):
            httpx.get(emu.url + "/_emulator/health")  # the system trust store does not know the local CA
        trusted = ssl.create_default_context(cafile=str(emu.ca_file))
        assert httpx.get(emu.url + "/_emulator/health", verify=trusted).status_code == 200
        folder = emu.ca_file.parent
    assert not folder.exists()  # the temporary CA folder goes with the emulator


def test_a_slow_client_is_cut_off_and_stop_ends_event_streams() -> None:
    import socket
    import threading
    import time

    with Emulator(request_timeout=0.3) as emu:
        port = int(emu.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: x\r\n")  # never ends its headers
            start = time.monotonic()
            assert sock.recv(100) == b""  # closed by the guard, without an answer
            assert time.monotonic() - start < 3
        followed: list[str] = []

        def follow() -> None:
            try:
                for event in emu.client.follow_events():
                    followed.append(event["kind"])
            except Exception as exc:  # the stream ends when the emulator stops
                followed.append(type(exc).__name__)

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        deadline = time.monotonic() + 10
        while not emu._emu.events.followed and time.monotonic() < deadline:
            time.sleep(0.01)  # until the stream is open
        assert emu._emu.events.followed, "the event stream did not open"
        start = time.monotonic()
        emu.stop()
    assert time.monotonic() - start < 5  # not the 10 s graceful-shutdown wait for the open stream
    follower.join(5)
    assert not follower.is_alive()
