"""Uplinks, downlinks and reports replayed against the real documentation's message bodies.

Every test names the file it replays (repository actility/tpx-iot-flow-doc unless said otherwise).
The reference examples in tests/data/iotflow/ are copies of that documentation's examples; what the
emulator forwards is checked against them field by field: names, value types, nesting.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.iotflow_support import DEVEUI, connect, downlink_path, uplink
from tests.harness import InProcessEmulator, Sink

DATA = Path(__file__).resolve().parents[1] / "data" / "iotflow"
#: Fields an example shows that a generated uplink has only in some cases: a join request, a decode
#: error, the gateway fields of the join-request example.
SITUATIONAL = {"payloadDecodedError", "rawJoinRequest", "Chain", "Spfact", "airtime", "payload"}
#: Fields the emulator adds to every forwarded uplink (ThingPark: "a URL is provided on each uplink").
ADDED = {"downlinkUrl"}


def example(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


def kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def same_shape(
    documented: Any, forwarded: Any, path: str = "", optional: frozenset[str] = frozenset()
) -> None:
    """Every documented field is forwarded with the same JSON type and nesting (lists: item by item)."""
    assert kind(forwarded) == kind(documented), (
        f"{path or '<root>'}: {forwarded!r} vs documented {documented!r}"
    )
    if isinstance(documented, dict):
        for key, value in documented.items():
            if key in optional:
                continue
            assert key in forwarded, f"{path}{key} missing"
            same_shape(value, forwarded[key], f"{path}{key}.", optional)
    elif isinstance(documented, list) and documented and forwarded:
        same_shape(documented[0], forwarded[0], f"{path}[0].", optional)


def forwarded_uplink(emu: InProcessEmulator, sink: Sink, **config: Any) -> Any:
    connect(emu, sink.url, **config)
    uplink(emu, payload={"messageType": "HEARTBEAT", "temperature": 24.8})
    return sink.wait_for(1)[0].json()


def known_keys(*names: str) -> set[str]:
    keys: set[str] = set()
    for name in names:
        keys |= set(example(name)["DevEUI_uplink"])
    return keys


def test_uplink_matches_the_decoded_example(fast_emulator: InProcessEmulator, sink: Sink) -> None:
    """docs/Message/Uplink_Message/README.md, "Decoded message" (tests/data/iotflow/DevEUI_uplink.decoded.json):
    number-typed, CustomerData with alr/tags/name, DriverCfg with app and id, the decoded payload."""
    body = forwarded_uplink(fast_emulator, sink)
    doc = example("DevEUI_uplink.decoded.json")
    assert list(body) == ["DevEUI_uplink"]
    up = body["DevEUI_uplink"]
    same_shape({k: v for k, v in doc["DevEUI_uplink"].items() if k != "payload"}, up)
    assert isinstance(up["payload"], dict)
    # No field the documented uplinks do not have (besides the downlinkUrl).
    documented = known_keys("DevEUI_uplink.decoded.json", "DevEUI_uplink.2.json", "DevEUI_uplink.json")
    assert set(up) - documented <= ADDED, set(up) - documented - ADDED


def test_uplink_matches_the_decode_error_example(fast_emulator: InProcessEmulator, sink: Sink) -> None:
    """docs/Message/Uplink_Message/README.md, "Error while decoding the message" (DevEUI_uplink.2.json):
    CustomerData.loc with lat/lon strings, DriverCfg with mod and app, LrrESP, rawMacCommands."""
    up = forwarded_uplink(fast_emulator, sink)["DevEUI_uplink"]
    same_shape(example("DevEUI_uplink.2.json")["DevEUI_uplink"], up, optional=frozenset(SITUATIONAL))
    assert isinstance(up["CustomerData"]["loc"]["lat"], str) and up["CustomerData"]["tags"]


def test_string_typed_uplink_matches_the_original_example(
    fast_emulator: InProcessEmulator, sink: Sink
) -> None:
    """docs/Message/Uplink_Message/README.md, "Original message" (DevEUI_uplink.json): "FPort":"1",
    "LrrRSSI":"-80.000000", Lrrs with string values; InstantPER, TxPower, Frequency stay numbers."""
    up = forwarded_uplink(fast_emulator, sink, uplinkValueTypes="string")["DevEUI_uplink"]
    same_shape(example("DevEUI_uplink.json")["DevEUI_uplink"], up)
    assert up["FPort"] == "1" and up["FCntUp"] == "0"
    assert up["LrrRSSI"].endswith(".000000") and len(up["LrrSNR"].split(".")[1]) == 6
    assert isinstance(up["Frequency"], float) and isinstance(up["AckRequested"], int)


def test_send_metadata_matches_the_legacy_example(fast_emulator: InProcessEmulator, sink: Sink) -> None:
    """docs/Message/Uplink_Message/README.md, "Legacy format" (sendMetadata.example.json): no wrapper."""
    body = forwarded_uplink(fast_emulator, sink, sendMetadata=True)
    same_shape(example("sendMetadata.example.json"), body, optional=frozenset({"payload"}))
    assert "DevEUI_uplink" not in body and body["DevEUI"] == DEVEUI


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, "wrapped"),
        ({"sendMetadata": True}, "inner"),
        ({"sendRawDecodedFormat": True}, "payload"),
        # "If sendMetadata is set to false ... and sendRawDecodedFormat is set to true" only.
        ({"sendMetadata": True, "sendRawDecodedFormat": True}, "inner"),
    ],
)
def test_format_flags_combine_as_documented(
    fast_emulator: InProcessEmulator, sink: Sink, config: dict[str, Any], expected: str
) -> None:
    """docs/Getting_Started/Setting_Up_A_Connection_instance/About_connections.md, sendMetadata and
    sendRawDecodedFormat; sendRawDecodedFormat.example.json is the decoded payload alone."""
    body = forwarded_uplink(fast_emulator, sink, **config)
    shape = {"wrapped": set(body) == {"DevEUI_uplink"}, "inner": "DevEUI" in body}
    shape["payload"] = body == {"messageType": "HEARTBEAT", "temperature": 24.8}
    assert shape[expected], body


def test_raw_decoded_format_without_a_payload_sends_the_whole_message(
    fast_emulator: InProcessEmulator, sink: Sink
) -> None:
    """About_connections.md: "In case 'payload' is not present, full uplink msg body is sent"."""
    connect(fast_emulator, sink.url, sendRawDecodedFormat=True)
    uplink(fast_emulator)
    assert "DevEUI_uplink" in sink.wait_for(1)[0].json()


def test_send_metadata_filters_downlink_reports(fast_emulator: InProcessEmulator, sink: Sink) -> None:
    """About_connections.md, sendMetadata: "Only uplink messages are received, downlink acknowledge are
    filtered"; the downlink is still sent (the journal says so)."""
    cid = connect(fast_emulator, sink.url, sendMetadata=True)
    body = {"DevEUI_downlink": {"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "01"}}
    assert fast_emulator.anon("POST", downlink_path(cid), json=body).status_code == 202
    assert uplink(fast_emulator)["downlinks"][0]["status"] == "sent"
    uplink(fast_emulator)
    fast_emulator.wait_idle()
    got = [r.json() for r in sink.wait_for(2)]
    assert len(got) == 2 and all("DevEUI" in g for g in got)  # two uplinks, no report


def test_documented_downlinks_are_accepted_and_sent(fast_emulator: InProcessEmulator, sink: Sink) -> None:
    """docs/Message/Downlink_Message/README.md: the "Original message" and the one "with optional fields"
    (AS_ID, AS_KEY, decoded payload, Confirmed "1", ValidityTime, FlushDownlinkQueue "1", DriverCfg),
    sent as they are (tests/data/iotflow/DevEUI_downlink*.json)."""
    plain = connect(fast_emulator, sink.url, name="plain")
    # The second example authenticates: its AS_ID/AS_KEY are the connection's downlinkAsId/downlinkAsKey.
    signed = connect(
        fast_emulator,
        sink.url,
        name="signed",
        downlinkAsId="TWA_199983788.1972.AS",
        downlinkAsKey="9311e22d7d44fc52215b0dc154aa1d22",
    )
    first = example("DevEUI_downlink.json")
    second = example("DevEUI_downlink.2.json")
    # Its ValidityTime (2019) has passed; one an hour from now keeps the rest of the example as it is.
    second["DevEUI_downlink"]["ValidityTime"] = 3600
    for cid, body in ((plain, first), (signed, second)):
        r = fast_emulator.anon("POST", downlink_path(cid), json=body)
        assert r.status_code == 202, r.text
    # Without its AS_ID/AS_KEY the first is refused by the authenticating connection.
    assert fast_emulator.anon("POST", downlink_path(signed), json=first).status_code == 401
    listed = fast_emulator.http.get("/_emulator/lorawan/downlinks").json()
    # FlushDownlinkQueue "1" emptied the queue first: only the second is left.
    assert [d["status"] for d in listed] == ["queued"]
    assert listed[0]["Confirmed"] is True and listed[0]["DriverCfg"]["app"]["pId"] == "abeeway"
    assert listed[0]["payload"]["DownMessageType"] == "SET_PARAMETER"
    assert uplink(fast_emulator, connections=[signed])["downlinks"][0]["status"] == "sent"


def test_sent_report_carries_the_documented_fields(fast_emulator: InProcessEmulator, sink: Sink) -> None:
    """docs/Message/Downlink_Message/README.md, "Downlink ACK Message" (DevEUI_downlink_Sent.json): every
    field with its type, DeliveryFailedCause1..3, FCntDn = "the downlink counter to be used for the next
    downlink frame", and the CorrelationID sent back as given (thingpark-integrations
    1_tpNS-AS/message_body_examples/downlink_frame_sent_report.json)."""
    cid = connect(fast_emulator, sink.url)
    dl = {
        "DevEUI": DEVEUI,
        "FPort": 1,
        "payload_hex": "01",
        "FCntDn": 46,
        "CorrelationID": "4434704901C7450B",
    }
    assert fast_emulator.anon("POST", downlink_path(cid), json={"DevEUI_downlink": dl}).status_code == 202
    uplink(fast_emulator)
    reports = [r.json() for r in sink.wait_for(2) if "DevEUI_downlink_Sent" in r.json()]
    sent = reports[0]["DevEUI_downlink_Sent"]
    documented = example("DevEUI_downlink_Sent.json")["DevEUI_downlink_Sent"]
    same_shape(documented, sent)
    assert list(sent)[: len(documented)] == list(documented)  # the documented order
    assert sent["DeliveryStatus"] == 1 and sent["FCntDn"] == 47  # sent with 46: the next is 47
    assert (sent["DeliveryFailedCause1"], sent["DeliveryFailedCause2"], sent["DeliveryFailedCause3"]) == (
        "00",
        "00",
        "00",
    )
    assert sent["CorrelationID"] == "4434704901C7450B"


def test_sent_report_without_correlation_id_has_none(fast_emulator: InProcessEmulator, sink: Sink) -> None:
    """Downlink_Message/README.md, CorrelationID: "When this parameter is provided, it is sent back"."""
    cid = connect(fast_emulator, sink.url)
    body = {"DevEUI_downlink": {"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "01"}}
    fast_emulator.anon("POST", downlink_path(cid), json=body)
    uplink(fast_emulator)
    sent = next(r.json() for r in sink.wait_for(2) if "DevEUI_downlink_Sent" in r.json())
    assert "CorrelationID" not in sent["DevEUI_downlink_Sent"]


def test_rejected_report_matches_the_example(fast_emulator: InProcessEmulator, sink: Sink) -> None:
    """Downlink_Message/README.md, "Downlink Rejected Message" (DevEUI_downlink_Rejected.json)."""
    cid = connect(fast_emulator, sink.url)
    for fcnt in (5, 3):
        body = {"DevEUI_downlink": {"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "01", "FCntDn": fcnt}}
        fast_emulator.anon("POST", downlink_path(cid), json=body)
        uplink(fast_emulator)
    rejected = next(r.json() for r in sink.wait_for(4) if "DevEUI_downlink_Rejected" in r.json())
    documented = example("DevEUI_downlink_Rejected.json")
    same_shape(documented, rejected)
    assert rejected["DevEUI_downlink_Rejected"]["DownlinkRejectionCause"].endswith("Expected=6")


@pytest.mark.parametrize(
    ("validity", "expires"),
    [
        (60, False),  # a number of seconds
        ("60", False),  # digits, as a query parameter or an untyped client sends them
        (0, True),
        ("2019-07-10T16:38:46.882+02:00", True),  # the documented ISO form, long past
        ("2999-01-01T00:00:00Z", False),
    ],
)
def test_validity_time_forms(
    fast_emulator: InProcessEmulator, sink: Sink, validity: Any, expires: bool
) -> None:
    """Downlink_Message/README.md, ValidityTime: "ISO 8601 timestamp or Duration in seconds"."""
    cid = connect(fast_emulator, sink.url)
    body = {"DevEUI_downlink": {"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "01", "ValidityTime": validity}}
    assert fast_emulator.anon("POST", downlink_path(cid), json=body).status_code == 202
    fast_emulator.advance(1)
    status = uplink(fast_emulator)["downlinks"][0]["status"]
    assert status == ("expired" if expires else "sent")


def test_validity_in_seconds_expires_on_the_emulator_clock(emulator: InProcessEmulator, sink: Sink) -> None:
    """Downlink_Message/README.md: a duration in seconds counts from the downlink's arrival."""
    cid = connect(emulator, sink.url)
    body = {"DevEUI_downlink": {"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "01", "ValidityTime": 30}}
    emulator.anon("POST", downlink_path(cid), json=body)
    emulator.advance(31)
    assert uplink(emulator)["downlinks"][0]["status"] == "expired"


@pytest.mark.parametrize("correlation", ["4434704901C7450B", "4434704901c7450b", "1234", 1234])
def test_correlation_id_forms(fast_emulator: InProcessEmulator, sink: Sink, correlation: Any) -> None:
    """Downlink_Message/README.md ("64 bits hexadecimal", example 4434704901C7450B) and the LRC
    application-server examples (thingpark-integrations send_downlink_with_token.py: "1234")."""
    cid = connect(fast_emulator, sink.url)
    body = {
        "DevEUI_downlink": {"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "01", "CorrelationID": correlation}
    }
    assert fast_emulator.anon("POST", downlink_path(cid), json=body).status_code == 202
    uplink(fast_emulator)
    sent = next(r.json() for r in sink.wait_for(2) if "DevEUI_downlink_Sent" in r.json())
    assert sent["DevEUI_downlink_Sent"]["CorrelationID"] == str(correlation)


def test_documented_optional_fields_are_kept(emulator: InProcessEmulator) -> None:
    """Downlink_Message/README.md: Token (256 bits hex), AFCntDn, RetryIneligibleGateways, Time."""
    cid = connect(emulator, "http://127.0.0.1:9/")
    dl = {
        "Time": "2019-07-10T15:38:46.882+02:00",
        "DevEUI": DEVEUI,
        "FPort": 1,
        "payload_hex": "01",
        "AFCntDn": 12,
        "RetryIneligibleGateways": 0,
        "Token": "ab" * 32,
    }
    assert emulator.anon("POST", downlink_path(cid), json={"DevEUI_downlink": dl}).status_code == 202
    (row,) = emulator.http.get("/_emulator/lorawan/downlinks").json()
    assert row["AFCntDn"] == 12 and row["FCntDn"] == 12  # the counter the AS encrypted with
    assert row["RetryIneligibleGateways"] == 0 and row["Token"] == "ab" * 32 and row["Time"] == dl["Time"]
    assert row["source"] == "downlinkMessages"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"Token": "abc"}, "Token"),
        ({"AFCntDn": -1}, "AFCntDn"),
        ({"AFCntDn": "x"}, "AFCntDn"),
        ({"RetryIneligibleGateways": 2}, "RetryIneligibleGateways"),
        ({"ValidityTime": -5}, "ValidityTime"),
        ({"ValidityTime": True}, "ValidityTime"),
        ({"CorrelationID": "not-hex"}, "CorrelationID"),
        ({"CorrelationID": ""}, None),  # empty = none given: accepted
        ({"DriverCfg": "abeeway"}, "DriverCfg"),
        ({"Time": "yesterday"}, "Time"),
    ],
)
def test_bad_downlink_fields_are_400_naming_the_field_and_nothing_is_queued(
    emulator: InProcessEmulator, fields: dict[str, Any], named: str | None
) -> None:
    """Downlink_Message/README.md field syntaxes; a bad one is refused before anything is queued."""
    cid = connect(emulator, "http://127.0.0.1:9/")
    body = {"DevEUI_downlink": {"DevEUI": DEVEUI, "FPort": 1, "payload_hex": "01", **fields}}
    r = emulator.anon("POST", downlink_path(cid), json=body)
    queued = emulator.http.get("/_emulator/lorawan/downlinks").json()
    if named is None:
        assert r.status_code == 202 and len(queued) == 1
        return
    assert r.status_code == 400 and named in r.json()["message"], r.text
    assert set(r.json()) == {"code", "message"} and queued == []


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("{DevEUI}", DEVEUI),  # docs/Connector/HTTP/README.md: "X-Thing": "{DevEUI}"
        ("mqtt/thing/{DevEUI}/uplink", f"mqtt/thing/{DEVEUI}/uplink"),  # About_connections.md
        ("mqtt/thing/{DevEUI}/{FPort}/uplink", f"mqtt/thing/{DEVEUI}/1/uplink"),
        ("iot/devices/{DevEUI}/tags/{CustomerData.tags[0]}", f"iot/devices/{DEVEUI}/tags/iotcli-emulator"),
        ("{CustomerData.loc.lat|'none'}", None),  # a string from CustomerData.loc
        ("{CustomerData.tags[3]|'no tag'}", "no tag"),
        ("{$.DevEUI_uplink.CustomerData.tags[0]}", "iotcli-emulator"),
    ],
)
def test_pattern_expressions_render(
    fast_emulator: InProcessEmulator, sink: Sink, pattern: str, expected: str | None
) -> None:
    """docs/Getting_Started/Setting_Up_A_Connection_instance/About_connections.md, "Pattern expression":
    each example form, in a header value of an HTTP connection."""
    for value_types in ("number", "string"):
        sink.requests.clear()
        cid = connect(fast_emulator, sink.url, headers={"X-Pattern": pattern}, uplinkValueTypes=value_types)
        uplink(fast_emulator, connections=[cid])
        got = sink.wait_for(1)[0]
        rendered = got.headers["x-pattern"]
        up = got.json()["DevEUI_uplink"]
        if expected is None:
            assert rendered == up["CustomerData"]["loc"]["lat"]
        else:
            assert rendered == expected, (value_types, rendered)


def test_send_uplink_to_an_application_server_builds_the_emulators_uplink(
    emulator: InProcessEmulator, sink: Sink, cli: Any
) -> None:
    """``send-uplink --to URL`` and an emulator connection give one device the same message shape
    (both number-typed like Uplink_Message/README.md's decoded example) and the same DevAddr, gateway,
    CustomerData and DriverCfg."""
    cid = connect(emulator, sink.url)
    uplink(emulator, connections=[cid])
    via_emulator = sink.wait_for(1)[0].json()["DevEUI_uplink"]
    r = cli("send-uplink", "--deveui", DEVEUI, "--payload-hex", "0102", "--to", sink.url, "--no-downlink-url")
    assert r.exit_code == 0, r.stderr
    via_cli = sink.wait_for(2)[1].json()["DevEUI_uplink"]
    assert set(via_cli) == set(via_emulator) - ADDED
    same_shape({k: v for k, v in via_emulator.items() if k not in ADDED}, via_cli)
    for key in ("DevAddr", "Lrrid", "Lrcid", "CustomerID", "CustomerData", "DriverCfg", "LrrLAT", "LrrLON"):
        assert via_cli[key] == via_emulator[key], key
