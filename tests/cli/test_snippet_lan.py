"""The Arduino sketch for a local emulator says that a board cannot reach 127.0.0.1 and how to run the
emulator on the LAN (issue 17, item 8)."""

from __future__ import annotations

from tests.harness import run_cli


def test_arduino_for_the_local_emulator_warns_and_shows_the_lan_setup() -> None:
    r = run_cli(["device", "snippet", "sensor-1", "--lang", "arduino", "--token", "dev-tok"])
    assert r.exit_code == 0, r.stderr
    assert "a board cannot reach it" in r.stderr
    sketch = r.stdout
    assert "on the board that is the board itself" in sketch
    assert "iotcli emulate --host 0.0.0.0 --port 8100 --token <a-long-secret>" in sketch
    assert 'CALLBACK_URL = "http://<LAN-IP>:8100/v3/users/local/devices/sensor-1/callback/data"' in sketch
    assert 'const char* CALLBACK_URL = "http://127.0.0.1:8100/' in sketch  # still the URL it was asked for


def test_arduino_for_a_lan_server_has_no_such_note() -> None:
    r = run_cli(
        [
            "device",
            "snippet",
            "sensor-1",
            "--lang",
            "arduino",
            "--token",
            "t",
            "--server",
            "http://192.168.1.20:8100",
        ]
    )
    assert r.exit_code == 0
    assert "!!" not in r.stdout and "cannot reach" not in r.stderr
    assert (
        'CALLBACK_URL = "http://192.168.1.20:8100/v3/users/local/devices/sensor-1/callback/data"' in r.stdout
    )


def test_other_languages_are_not_warned() -> None:
    r = run_cli(["device", "snippet", "sensor-1", "--lang", "curl", "--token", "t"])
    assert r.exit_code == 0 and "board" not in r.stderr
