"""``iotcli downlink send|list`` against the in-process emulator: queue, class-A delivery, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Cli
from tests.harness import InProcessEmulator, Sink

DEVEUI = "0018B20000000B20"


@pytest.fixture
def emulator(fast_emulator: InProcessEmulator) -> InProcessEmulator:
    """The scaled clock here: downlink reports follow their uplink by 1 emulated second."""
    return fast_emulator


@pytest.fixture
def app_sink() -> Iterator[Sink]:
    with Sink() as s:
        yield s


def connection(cli: Cli, sink: Sink, *flags: str) -> str:
    r = cli("--json", "connection", "create", "app", "--destination", f"{sink.url}/up", *flags)
    assert r.exit_code == 0, r.stderr
    cid: str = r.json()["data"]["id"]
    return cid


def uplink(emulator: InProcessEmulator, **fields: Any) -> dict[str, Any]:
    r = emulator.http.post(
        "/_emulator/lorawan/uplinks", json={"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "00", **fields}
    )
    assert r.status_code == 202, r.text
    answer: dict[str, Any] = r.json()
    return answer


def test_downlink_url_from_an_uplink_then_sent_with_the_next_uplink(
    cli: Cli, emulator: InProcessEmulator, app_sink: Sink
) -> None:
    connection(cli, app_sink)
    uplink(emulator, payload_hex="01")
    first = app_sink.wait_for(1)[0].json()["DevEUI_uplink"]
    r = cli(
        "downlink", "send", first["downlinkUrl"], "--deveui", DEVEUI, "--fport", "2", "--payload-hex", "0A0B"
    )
    assert r.exit_code == 0, r.stderr
    assert "queued for 0018B20000000B20" in r.stderr and "status  queued" in r.stdout

    r = cli("downlink", "list", "--deveui", DEVEUI)
    assert r.exit_code == 0
    row = r.stdout.splitlines()[1].split("\t")
    assert row[1:6] == [DEVEUI, "2", "-", "queued", "-"] and row[7] == "0a0b"

    emulator.wait_idle()
    uplink(emulator, payload_hex="02")
    sent = [req.json() for req in app_sink.wait_for(3)]
    report = next(b["DevEUI_downlink_Sent"] for b in sent if "DevEUI_downlink_Sent" in b)
    assert report["DeliveryStatus"] == 1 and report["FPort"] == 2

    data = cli("--json", "downlink", "list", "--status", "sent").json()["data"]
    assert [(d["status"], d["FPort"], d["payload_hex"]) for d in data] == [("sent", 2, "0a0b")]
    assert cli("--json", "downlink", "list", "--status", "queued").json()["data"] == []


def test_connection_option_default_port_and_json(
    cli: Cli, emulator: InProcessEmulator, app_sink: Sink
) -> None:
    cid = connection(cli, app_sink, "--downlink-port", "5")
    r = cli(
        "--json", "downlink", "send", "--connection", cid, "--deveui", DEVEUI, "--payload", '{"led": "on"}'
    )
    assert r.exit_code == 0, r.stderr
    answer = r.json()["data"]
    assert answer["status"] == "queued" and answer["id"]
    listed = cli("--json", "downlink", "list").json()["data"]
    assert [(d["id"], d["FPort"], d["payload"], d["connection"]) for d in listed] == [
        (answer["id"], 5, {"led": "on"}, cid)
    ]


def test_reused_fcntdn_is_rejected(cli: Cli, emulator: InProcessEmulator, app_sink: Sink) -> None:
    cid = connection(cli, app_sink)
    base = (
        "downlink",
        "send",
        "--connection",
        cid,
        "--deveui",
        DEVEUI,
        "--fport",
        "1",
        "--payload-hex",
        "01",
    )
    assert cli(*base).exit_code == 0
    uplink(emulator)  # FCntDn 0 used
    app_sink.wait_for(2)
    emulator.wait_idle()
    assert cli(*base, "--fcntdn", "0").exit_code == 0
    uplink(emulator)
    bodies = [req.json() for req in app_sink.wait_for(4)]
    rejected = next(b["DevEUI_downlink_Rejected"] for b in bodies if "DevEUI_downlink_Rejected" in b)
    assert "Downlink counter value already used" in rejected["DownlinkRejectionCause"]
    r = cli("downlink", "list", "--status", "rejected")
    assert r.exit_code == 0 and "already used" in r.stdout


def test_refusals_are_exit_4_with_the_servers_reason(cli: Cli, app_sink: Sink) -> None:
    send = ("downlink", "send", "--deveui", DEVEUI, "--fport", "1", "--payload-hex", "01")
    r = cli(*send, "--connection", "0" * 32)
    assert r.exit_code == 4 and "404" in r.stderr and "no connection" in r.stderr

    off = connection(cli, app_sink, "--no-downlink")
    r = cli(*send, "--connection", off)
    assert r.exit_code == 4 and "403" in r.stderr and "downlinkEnabled" in r.stderr

    guarded = connection(cli, app_sink, "--downlink-as-id", "as-1", "--downlink-as-key", "k3y")
    r = cli(*send, "--connection", guarded, "--as-id", "as-1", "--as-key", "wrong")
    assert r.exit_code == 4 and "401" in r.stderr and "AS_KEY" in r.stderr
    r = cli("--json", *send, "--connection", guarded, "--as-id", "as-1", "--as-key", "k3y")
    assert r.exit_code == 0 and r.json()["data"]["status"] == "queued"


def test_server_side_validation_names_the_field(cli: Cli, app_sink: Sink) -> None:
    cid = connection(cli, app_sink)  # no downlinkPort: FPort is required
    r = cli("downlink", "send", "--connection", cid, "--deveui", DEVEUI, "--payload-hex", "01")
    assert r.exit_code == 4 and "FPort" in r.stderr
    r = cli(
        "downlink", "send", "--connection", cid, "--deveui", DEVEUI, "--fport", "1", "--payload-hex", "01",
        "--validity-time", "tomorrow",
    )  # fmt: skip
    assert r.exit_code == 4 and "ValidityTime" in r.stderr


def test_list_empty(cli: Cli) -> None:
    r = cli("downlink", "list")
    assert r.exit_code == 0 and r.stdout.splitlines() == [
        "ID\tDEVEUI\tFPORT\tFCNTDN\tSTATUS\tCAUSE\tCONNECTION\tPAYLOAD"
    ]
    assert cli("--json", "downlink", "list").json() == {"data": []}
