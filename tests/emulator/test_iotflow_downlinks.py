"""Downlinks: validation, 404/403/401, the class-A queue, Sent / Rejected / expired reports, flush, journal."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.emulator.iotflow_support import DEVEUI, connect, downlink_path, events, uplink
from tests.harness import InProcessEmulator, Sink


def downlink_url(cid: str) -> str:
    return downlink_path(cid)


def post(emu: InProcessEmulator, cid: str, **fields: Any) -> Any:
    body = {"DevEUI_downlink": {"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "9e1c", **fields}}
    return emu.anon("POST", downlink_url(cid), json=body)


def listed(emu: InProcessEmulator, **query: str) -> list[dict[str, Any]]:
    r = emu.http.get("/_emulator/lorawan/downlinks", params=query)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_downlink_is_queued_then_sent_with_the_next_uplink(
    fast_emulator: InProcessEmulator, sink: Sink
) -> None:
    cid = connect(fast_emulator, sink.url)
    uplink(fast_emulator)
    url = sink.wait_for(1)[0].json()["DevEUI_uplink"]["downlinkUrl"]
    assert url.endswith(downlink_url(cid))
    # The downlinkUrl needs no token: the uuid is the key.
    r = post(fast_emulator, cid, CorrelationID="0123456789abcdef")
    assert r.status_code == 202
    answer = r.json()
    assert set(answer) == {"id", "status"} and answer["status"] == "queued"
    (row,) = listed(fast_emulator, DevEUI=DEVEUI)
    assert row["status"] == "queued" and row["payload_hex"] == "9e1c"
    up = uplink(fast_emulator)
    assert up["downlinks"] == [{"id": answer["id"], "status": "sent"}]
    reqs = sink.wait_for(3)
    (sent,) = [r.json()["DevEUI_downlink_Sent"] for r in reqs if "DevEUI_downlink_Sent" in r.json()]
    # FCntDn: "the downlink counter to be used for the next downlink frame" (this one used 0).
    assert sent["DevEUI"] == DEVEUI and sent["FPort"] == 1 and sent["FCntDn"] == 1
    assert sent["FCntUp"] == up["FCntUp"] and sent["DeliveryStatus"] == 1
    assert sent["DeliveryFailedCause1"] == "00" and sent["TransmissionSlot"] == 1
    assert sent["CorrelationID"] == "0123456789abcdef" and "Time" in sent  # sent back as given
    assert "downlinkUrl" not in sent
    (row,) = listed(fast_emulator, DevEUI=DEVEUI)
    assert row["status"] == "sent" and row["FCntDn"] == 0 and row["FCntUp"] == up["FCntUp"]
    # The network's downlink counter moved on: the next uplink says so.
    uplink(fast_emulator)
    latest = [r.json()["DevEUI_uplink"] for r in sink.wait_for(4) if "DevEUI_uplink" in r.json()]
    assert latest[-1]["FCntDn"] == 1


def test_one_downlink_per_uplink_in_order(emulator: InProcessEmulator, sink: Sink) -> None:
    cid = connect(emulator, sink.url)
    first = post(emulator, cid, payload_hex="01").json()["id"]
    second = post(emulator, cid, payload_hex="02").json()["id"]
    assert uplink(emulator)["downlinks"] == [{"id": first, "status": "sent"}]
    assert uplink(emulator)["downlinks"] == [{"id": second, "status": "sent"}]
    assert "downlinks" not in uplink(emulator)


def test_expired_downlink_reports_b0(fast_emulator: InProcessEmulator, sink: Sink) -> None:
    cid = connect(fast_emulator, sink.url)
    r = post(fast_emulator, cid, ValidityTime="2020-01-01T00:00:00.000+02:00")
    assert r.status_code == 202
    assert uplink(fast_emulator)["downlinks"] == [{"id": r.json()["id"], "status": "expired"}]
    (report,) = [
        r.json()["DevEUI_downlink_Sent"] for r in sink.wait_for(2) if "DevEUI_downlink_Sent" in r.json()
    ]
    assert report["DeliveryStatus"] == 0 and report["DeliveryFailedCause1"] == "B0"
    assert listed(fast_emulator, status="expired")[0]["id"] == r.json()["id"]


def test_validity_time_on_the_emulator_clock(emulator: InProcessEmulator, sink: Sink) -> None:
    from iotcli.emulator.iotflow.connections import iso_time

    cid = connect(emulator, sink.url)
    valid_until = iso_time(emulator.emu.clock.now() + 600)
    post(emulator, cid, ValidityTime=valid_until)
    assert listed(emulator)[0]["cause"] is None
    emulator.advance(601)
    # Still in the queue (class A) until the next uplink, and the listing says what will happen.
    (waiting,) = listed(emulator)
    assert waiting["status"] == "queued"
    assert waiting["cause"] == "ValidityTime passed: expires (B0) with the device's next uplink"
    assert uplink(emulator)["downlinks"][0]["status"] == "expired"
    assert listed(emulator)[0]["cause"] == "B0"


def test_reused_fcntdn_is_rejected(fast_emulator: InProcessEmulator, sink: Sink) -> None:
    cid = connect(fast_emulator, sink.url)
    post(fast_emulator, cid, FCntDn=5)
    uplink(fast_emulator)  # sent with FCntDn 5: the next expected is 6
    r = post(fast_emulator, cid, FCntDn=3)
    assert uplink(fast_emulator)["downlinks"] == [{"id": r.json()["id"], "status": "rejected"}]
    by_kind = {next(iter(r.json())): r.json() for r in sink.wait_for(4)}
    rejected = by_kind["DevEUI_downlink_Rejected"]["DevEUI_downlink_Rejected"]
    assert rejected["DownlinkRejectionCause"] == "Downlink counter value already used. Expected=6"
    assert rejected["DevEUI"] == DEVEUI and rejected["DeliveryStatus"] == 350
    assert by_kind["DevEUI_downlink_Sent"]["DevEUI_downlink_Sent"]["FCntDn"] == 6  # the next one
    assert listed(fast_emulator, status="rejected")[0]["cause"].endswith("Expected=6")


def test_flush_downlink_queue_empties_it_first(emulator: InProcessEmulator, sink: Sink) -> None:
    cid = connect(emulator, sink.url)
    post(emulator, cid, payload_hex="01")
    post(emulator, cid, payload_hex="02")
    last = post(emulator, cid, payload_hex="03", FlushDownlinkQueue="1").json()["id"]
    rows = listed(emulator, DevEUI=DEVEUI)
    assert [r["id"] for r in rows] == [last]
    assert uplink(emulator)["downlinks"] == [{"id": last, "status": "sent"}]
    assert events(emulator, "downlink.flushed")[0]["count"] == 2


def test_default_fport_is_the_connection_downlink_port(emulator: InProcessEmulator, sink: Sink) -> None:
    cid = connect(emulator, sink.url, downlinkPort=42)
    body = {"DevEUI_downlink": {"DevEUI": "00-18-b2-00-00-00-0b-20", "payload": {"cmd": "reboot"}}}
    r = emulator.anon("POST", downlink_url(cid), json=body)
    assert r.status_code == 202
    (row,) = listed(emulator)
    assert row["FPort"] == 42 and row["DevEUI"] == DEVEUI and row["payload"] == {"cmd": "reboot"}


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"DevEUI": "12"}, "DevEUI"),
        ({"DevEUI": None}, "DevEUI"),
        ({"FPort": 0}, "FPort"),
        ({"FPort": 225}, "FPort"),
        ({"payload_hex": "xyz"}, "payload_hex"),
        ({"payload_hex": "abc"}, "payload_hex"),
        ({"payload": {"a": 1}}, "payload"),  # both payload and payload_hex
        ({"CorrelationID": "12345678901234567"}, "CorrelationID"),  # more than 64 bits
        ({"FCntDn": -1}, "FCntDn"),
        ({"FCntDn": 2**70}, "FCntDn"),
        ({"ValidityTime": "tomorrow"}, "ValidityTime"),
        ({"Confirmed": "maybe"}, "Confirmed"),
        ({"Colour": "red"}, "Colour"),
    ],
)
def test_invalid_downlinks_are_400_naming_the_field(
    emulator: InProcessEmulator, fields: dict[str, Any], named: str
) -> None:
    cid = connect(emulator, "http://127.0.0.1:9/")
    r = post(emulator, cid, **fields)
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"code", "message"} and named in r.json()["message"]


def test_neither_payload_is_400_and_missing_fport_without_default(emulator: InProcessEmulator) -> None:
    cid = connect(emulator, "http://127.0.0.1:9/")
    r = emulator.anon("POST", downlink_url(cid), json={"DevEUI_downlink": {"DevEUI": DEVEUI, "FPort": 1}})
    assert r.status_code == 400 and "payload" in r.json()["message"]
    r = emulator.anon(
        "POST", downlink_url(cid), json={"DevEUI_downlink": {"DevEUI": DEVEUI, "payload_hex": "00"}}
    )
    assert r.status_code == 400 and "FPort" in r.json()["message"]
    r = emulator.anon("POST", downlink_url(cid), json={"downlink": {}})
    assert r.status_code == 400 and "DevEUI_downlink" in r.json()["message"]


def test_unknown_uuid_is_404(emulator: InProcessEmulator) -> None:
    r = post(emulator, uuid.uuid4().hex)
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
    assert emulator.anon("POST", "/iot-flow/downlinkMessages/not-a-uuid", json={}).status_code == 404


def test_downlinks_disabled_is_403(emulator: InProcessEmulator) -> None:
    cid = connect(emulator, "http://127.0.0.1:9/", downlinkEnabled=False)
    assert post(emulator, cid).status_code == 403


def test_as_id_and_key_must_match(emulator: InProcessEmulator) -> None:
    cid = connect(emulator, "http://127.0.0.1:9/", downlinkAsId="TWA_1.AS", downlinkAsKey="9311e22d7d44fc52")
    assert post(emulator, cid).status_code == 401
    assert post(emulator, cid, AS_ID="TWA_1.AS", AS_KEY="wrong").status_code == 401
    r = post(emulator, cid, AS_ID="other", AS_KEY="9311e22d7d44fc52")
    assert r.status_code == 401 and "AS_ID" in r.json()["message"]
    assert post(emulator, cid, AS_ID="TWA_1.AS", AS_KEY="9311e22d7d44fc52").status_code == 202


def test_reference_downlink_examples_are_accepted(emulator: InProcessEmulator) -> None:
    import json
    from pathlib import Path

    cid = connect(
        emulator,
        "http://127.0.0.1:9/",
        downlinkAsId="TWA_199983788.1972.AS",
        downlinkAsKey="9311e22d7d44fc52215b0dc154aa1d22",
    )
    ref = Path(__file__).resolve().parents[1] / "data" / "iotflow"
    files = [ref / "DevEUI_downlink.json", ref / "DevEUI_downlink.2.json"]
    for f in files:
        body = json.loads(f.read_text())
        body["DevEUI_downlink"].setdefault("AS_ID", "TWA_199983788.1972.AS")
        body["DevEUI_downlink"].setdefault("AS_KEY", "9311e22d7d44fc52215b0dc154aa1d22")
        r = emulator.anon("POST", downlink_url(cid), json=body)
        assert r.status_code == 202, r.text


def test_downlink_journal_query_validation(emulator: InProcessEmulator) -> None:
    assert emulator.http.get("/_emulator/lorawan/downlinks", params={"status": "lost"}).status_code == 400
    assert emulator.http.get("/_emulator/lorawan/downlinks", params={"DevEUI": "zz"}).status_code == 400
    assert emulator.anon("GET", "/_emulator/lorawan/downlinks").status_code == 401


def test_queued_downlink_survives_a_restart(tmp_path: Any) -> None:
    from iotcli.emulator.settings import EmulatorSettings
    from tests.harness import TEST_TOKEN

    settings = EmulatorSettings(data_dir=tmp_path, token=TEST_TOKEN, time_scale=0.01)
    with Sink() as sink:
        with InProcessEmulator(settings) as emu:
            cid = connect(emu, sink.url)
            queued = post(emu, cid).json()["id"]
        with InProcessEmulator(settings) as emu:
            assert uplink(emu)["downlinks"] == [{"id": queued, "status": "sent"}]
            sent = [r.json() for r in sink.wait_for(2) if "DevEUI_downlink_Sent" in r.json()]
            assert sent and sent[0]["DevEUI_downlink_Sent"]["DeliveryStatus"] == 1
