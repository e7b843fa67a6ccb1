"""`iotcli send-uplink` against the in-process emulator: data stored, answers shown, LoRaWAN paths."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.conftest import Cli
from tests.harness import InProcessEmulator, Sink


def make_device(emu: InProcessEmulator, device: str = "d1") -> None:
    h = emu.http
    assert (
        h.post(
            "/v1/users/local/buckets",
            json={"bucket": device, "name": device, "enabled": True, "config": {"source": "write"}},
        ).status_code
        == 200
    )
    assert h.post("/v1/users/local/devices", json={"device": device, "type": "HTTP"}).status_code == 200
    assert h.put(
        f"/v3/users/local/devices/{device}/properties/cmd", json={"value": {"led": "on"}}
    ).status_code in (200, 201)
    r = h.put(
        f"/v3/users/local/devices/{device}/callback",
        json={"actions": {"write_bucket": device, "send_property": "cmd"}},
    )
    assert r.status_code == 200, r.text


def stored(emu: InProcessEmulator, bucket: str) -> list[dict[str, object]]:
    return [
        rec["val"]
        for rec in emu.http.get(f"/v1/users/local/buckets/{bucket}/data", params={"sort": "asc"}).json()
    ]


def make_connection(emu: InProcessEmulator, destination: str) -> str:
    r = emu.http.post(
        "/iot-flow/v1/connections",
        json={
            "connectorId": "actility-http-iot",
            "name": "app",
            "configuration": {"destinationURL": destination},
        },
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def downlink_path(emu: InProcessEmulator, cid: str) -> str:
    """The path of a connection's downlinkUrl (its downlink UUID is not its id)."""
    return urlsplit(emu.http.get(f"/iot-flow/v1/connections/{cid}").json()["downlinkUrl"]).path


def test_device_uplink_is_stored_and_the_device_gets_its_command(
    emulator: InProcessEmulator, cli: Cli
) -> None:
    make_device(emulator)
    r = cli("send-uplink", "--device", "d1", "temp:=21.5", "name=kitchen")
    assert r.exit_code == 0, r.stderr
    assert '"led": "on"' in r.stdout
    assert stored(emulator, "d1") == [{"temp": 21.5, "name": "kitchen"}]


def test_repeat_stores_every_uplink(emulator: InProcessEmulator, cli: Cli) -> None:
    make_device(emulator)
    r = cli(
        "send-uplink",
        "--device",
        "d1",
        "--data",
        '{"ts": {{i}}, "n": {{i}}}',
        "--repeat",
        "12",
        "--concurrency",
        "4",
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    assert r.json()["data"]["ok"] == 12
    assert sorted(v["n"] for v in stored(emulator, "d1")) == list(range(1, 13))  # type: ignore[type-var]


def test_unknown_device_exits_4_and_shows_the_error(emulator: InProcessEmulator, cli: Cli) -> None:
    r = cli("send-uplink", "--device", "ghost", "a=1")
    assert r.exit_code == 4
    assert "404" in r.stderr and "error" in r.stdout


def test_wrong_token_exits_4(emulator: InProcessEmulator, cli: Cli) -> None:
    make_device(emulator)
    r = cli("send-uplink", "--device", "d1", "--token", "nope", "a=1")
    assert r.exit_code == 4 and "401" in r.stderr


def test_lorawan_uplink_through_the_emulator_reaches_the_application(
    emulator: InProcessEmulator, cli: Cli, sink: Sink
) -> None:
    conn = make_connection(emulator, sink.url + "/uplink")
    r = cli(
        "send-uplink",
        "--deveui",
        "0018B20000000B20",
        "--fport",
        "3",
        "--payload-hex",
        "0a0b",
        "--connection",
        conn,
    )
    assert r.exit_code == 0, r.stderr
    emulator.wait_idle()
    uplink = sink.wait_for(1)[0].json()["DevEUI_uplink"]
    assert uplink["DevEUI"] == "0018B20000000B20" and uplink["payload_hex"] == "0a0b"
    assert uplink["downlinkUrl"].endswith(downlink_path(emulator, conn))


def test_to_finds_the_connection_for_the_downlink_url(
    emulator: InProcessEmulator, cli: Cli, sink: Sink
) -> None:
    conn = make_connection(emulator, sink.url + "/uplink")
    r = cli(
        "send-uplink", "--deveui", "0018B20000000B20", "--payload-hex", "01", "--to", sink.url + "/uplink"
    )
    assert r.exit_code == 0, r.stderr
    uplink = sink.wait_for(1)[0].json()["DevEUI_uplink"]
    link = uplink["downlinkUrl"]
    assert link == "http://testserver" + downlink_path(emulator, conn)
    # the application can answer with a downlink at that URL
    down = emulator.http.post(
        link[len("http://testserver") :],
        json={"DevEUI_downlink": {"DevEUI": "0018B20000000B20", "FPort": 1, "payload_hex": "ff"}},
    )
    assert down.status_code == 202, down.text
