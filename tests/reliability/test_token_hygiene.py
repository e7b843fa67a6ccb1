"""Token and secret hygiene (issue 11, items 5 and 7): percent-encoded query tokens, masked URLs and
headers in journals and logs, a minimum token length beyond loopback, private data and config dirs."""

from __future__ import annotations

import pytest

from tests.harness import run_cli


def test_a_short_token_is_refused_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    from iotcli.emulator import server

    served: list[str] = []
    monkeypatch.setattr(server, "bind_socket", lambda host, port: server.__dict__["socket"].socket())
    monkeypatch.setattr(server, "serve", lambda settings, sock, **kw: served.append(settings.host))
    for token in ("x", "fifteen-chars!!"):
        r = run_cli(["emulate", "--host", "0.0.0.0", "--in-memory", "--port", "0", "--token", token])
        assert r.exit_code == 2, r.stderr
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "at least 16 characters" in lines[0], r.stderr
    assert served == []
    r = run_cli(["emulate", "--host", "127.0.0.1", "--in-memory", "--port", "0", "--token", "x"])
    assert r.exit_code == 0, r.stderr  # loopback: the user's own choice
    assert served == ["127.0.0.1"]


def test_urls_are_masked() -> None:
    from iotcli.models.masking import mask_url

    assert mask_url("/v3/x?authoriz%61tion=abc&ts=1") == "/v3/x?authoriz%61tion=*****&ts=1"
    assert mask_url("http://u:pw@h/x?api_key=1&a=2") == "http://u:*****@h/x?api_key=*****&a=2"
    assert (
        mask_url("http://h/?AUTHORIZATION=Bearer%20x&X_Token=y")
        == "http://h/?AUTHORIZATION=*****&X_Token=*****"
    )
    assert mask_url("mailto:ops@example.com") == "mailto:ops@example.com"
    assert mask_url("http://h/p?DevEUI=00&FPort=1") == "http://h/p?DevEUI=00&FPort=1"


def test_percent_encoded_query_token_is_the_same_key_and_masked_in_the_access_log() -> None:
    import logging

    from iotcli.emulator.server import MaskTokens

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        "",
        0,
        '%s - "%s %s HTTP/%s" %d',
        (
            "127.0.0.1:5",
            "POST",
            "/v3/users/local/devices/d1/callback/data?authoriz%61tion=SECRET123",
            "1.1",
            200,
        ),
        None,
    )
    MaskTokens().filter(record)
    line = record.getMessage()
    assert "SECRET123" not in line and "authoriz%61tion=*****" in line


def test_delivery_attempt_urls_and_events_mask_credentials(emulator, sink) -> None:  # type: ignore[no-untyped-def]
    url = sink.url.replace("http://", "http://app:pa55word@") + "?api_key=K3Y-SECRET&x=1"
    r = emulator.http.post(
        "/iot-flow/v1/connections",
        json={"connectorId": "actility-http-iot", "name": "c1", "configuration": {"destinationURL": url}},
    )
    assert r.status_code == 201, r.text
    emulator.advance(1)
    r = emulator.http.post(
        "/_emulator/lorawan/uplinks", json={"DevEUI": "0024AEB3C02BE1C4", "FPort": 1, "payload_hex": "00"}
    )
    assert r.status_code == 202
    sink.wait_for(1)
    emulator.wait_idle()
    deliveries = emulator.http.get("/_emulator/deliveries").json()
    shown = emulator.http.get(f"/_emulator/deliveries/{deliveries[0]['id']}").text
    events = emulator.http.get("/_emulator/events", params={"limit": 1000}).text
    for text in (shown, events):
        assert "pa55word" not in text and "K3Y-SECRET" not in text
    assert "app:*****@" in shown and "api_key=*****" in shown


def test_a_flood_of_unauthenticated_requests_is_sampled_and_counted(emulator) -> None:  # type: ignore[no-untyped-def]
    assert (
        emulator.http.post("/v1/users/local/devices", json={"device": "d1", "type": "HTTP"}).status_code
        == 200
    )
    for _ in range(300):
        r = emulator.anon("POST", "/v3/users/local/devices/d1/callback/data", json={"t": 1})
        assert r.status_code == 401
    rejected = emulator.http.get("/_emulator/events", params={"kind": "callback.rejected"}).json()
    assert len(rejected) == 1 and rejected[0]["source"]
    assert emulator.emu.events.rejections.total == 300
    emulator.emu.events.rejections.interval = 0  # the next interval: one event, carrying the count
    emulator.anon("POST", "/v3/users/local/devices/d1/callback/data", json={"t": 1})
    rejected = emulator.http.get("/_emulator/events", params={"kind": "callback.rejected"}).json()
    assert len(rejected) == 2 and rejected[1]["suppressed"] == 299


def test_the_event_journal_cap_holds_at_insert_time() -> None:
    from iotcli.emulator.settings import EmulatorSettings
    from tests.harness import TEST_TOKEN, InProcessEmulator

    settings = EmulatorSettings(data_dir=None, token=TEST_TOKEN, max_events=100, prune_every=3600)
    with InProcessEmulator(settings) as emu:
        assert (
            emu.http.post("/v1/users/local/devices", json={"device": "d1", "type": "HTTP"}).status_code == 200
        )
        for i in range(150):
            r = emu.http.post("/v3/users/local/devices/d1/callback/data", json={"i": i})
            assert r.status_code == 200
        for i in range(50):
            assert emu.http.put("/v1/users/local/devices/d1", json={"name": f"n{i}"}).status_code == 200
        count = emu.run(emu.emu.store.read(lambda c: c.execute("SELECT COUNT(*) FROM events").fetchone()[0]))
        assert count <= 100


def test_data_and_config_dirs_are_tightened_to_0700(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os
    import stat

    from iotcli.config import config_path
    from iotcli.store.db import Store

    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o777)
    store = Store(data / "emulator.db")
    store.open()
    store.close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700

    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    os.chmod(conf_dir, 0o777)
    monkeypatch.setenv("IOTCLI_CONFIG_DIR", str(conf_dir))
    r = run_cli(["config", "set", "server", "http://127.0.0.1:8100"])
    assert r.exit_code == 0, r.stderr
    path = config_path()
    assert path.exists()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
