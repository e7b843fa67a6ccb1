"""The shared wire rules (iotcli.models): ids, DevEUI, FPort, payload hex, the request shapes, and the
one status-to-exit-code mapping. Each side words its own error around the same rule."""

from __future__ import annotations

import pytest

from iotcli.errors import ApiError, ExitCode, UsageError, exit_code_for_status
from iotcli.models import ids, lorawan
from iotcli.models.devices import callback_url
from iotcli.models.iotflow import build_uplink, devaddr_for
from iotcli.sending import request as rq
from iotcli.sending.runner import exit_code_for


@pytest.mark.parametrize("value", ["d", "sensor-1", "A_b-9", "x" * 32])
def test_valid_ids(value: str) -> None:
    assert ids.is_id(value)


@pytest.mark.parametrize("value", ["", "x" * 33, "a b", "a/b", "a.b", "é", "a%20b"])
def test_invalid_ids(value: str) -> None:
    assert not ids.is_id(value)


def test_the_cli_and_the_emulator_word_the_same_id_rule() -> None:
    from iotcli.emulator.errors import ApiProblem
    from iotcli.emulator.http import check_id

    with pytest.raises(UsageError, match=r"must be 1-32 letters, digits, '_' or '-'"):
        rq.check_id("a b", "device id")
    with pytest.raises(ApiProblem) as problem:
        check_id("a b", "device")
    assert problem.value.status == 400 and ids.ID_RULE in str(problem.value.message)
    assert check_id("d-1", "device") == rq.check_id("d-1", "device id") == "d-1"


@pytest.mark.parametrize(
    ("value", "normal"),
    [
        ("0018b20000000b20", "0018B20000000B20"),
        ("00-18-B2-00-00-00-0B-20", "0018B20000000B20"),
        ("00:18:b2:00:00:00:0b:20", "0018B20000000B20"),
        ("70B3D57ED0000001", "70B3D57ED0000001"),
    ],
)
def test_deveui_normal_form(value: str, normal: str) -> None:
    assert lorawan.normalize_deveui(value) == normal
    assert rq.normalize_deveui(value) == normal


@pytest.mark.parametrize(
    "value", ["", "0018b20000000b2", "0018b20000000b200", "0018b20000000b2g", " 0018b20000000b20"]
)
def test_not_a_deveui(value: str) -> None:
    assert lorawan.normalize_deveui(value) is None
    with pytest.raises(UsageError, match="16 hex digits"):
        rq.normalize_deveui(value)


def test_deveui_strip_drops_surrounding_space_only_when_asked() -> None:
    assert lorawan.normalize_deveui(" 0018b20000000b20\t", strip=True) == "0018B20000000B20"
    assert lorawan.normalize_deveui(" 0018b20000000b20\t") is None


def test_emulator_deveui_check_uses_the_same_rule() -> None:
    from iotcli.emulator.errors import ApiProblem
    from iotcli.emulator.iotflow import uplinks

    assert uplinks.parse_request(
        {"DevEUI": "00-18-b2-00-00-00-0b-20", "FPort": 1, "payload_hex": ""}
    ).deveui == ("0018B20000000B20")
    with pytest.raises(ApiProblem, match="16 hex digits"):
        uplinks.parse_request({"DevEUI": "0018", "FPort": 1, "payload_hex": ""})


@pytest.mark.parametrize(
    ("value", "ok"), [(0, False), (1, True), (100, True), (224, True), (225, False), (-1, False)]
)
def test_fport_rule(value: int, ok: bool) -> None:
    assert lorawan.is_fport(value) is ok
    if ok:
        assert rq.check_fport(value) == value
    else:
        with pytest.raises(UsageError, match=r"--fport .* must be 1\.\.224"):
            rq.check_fport(value)


@pytest.mark.parametrize(("value", "ok"), [("", True), ("0a1B", True), ("abc", False), ("zz", False)])
def test_payload_hex_rule(value: str, ok: bool) -> None:
    assert lorawan.is_payload_hex(value) is ok


def test_ingress_body_leaves_out_what_is_not_given() -> None:
    assert lorawan.ingress_body("0018B20000000B20", 5, "01", None, [], None) == {
        "DevEUI": "0018B20000000B20",
        "FPort": 5,
        "payload_hex": "01",
    }
    body = lorawan.ingress_body("0018B20000000B20", 5, None, {"t": 1}, ["c1"], {"FCntUp": 7})
    assert body == {
        "DevEUI": "0018B20000000B20",
        "FPort": 5,
        "payload": {"t": 1},
        "connections": ["c1"],
        "DevEUI_uplink": {"FCntUp": 7},
    }
    assert set(body) <= lorawan.UPLINK_KEYS


def test_downlink_url_and_body() -> None:
    hex_id = "3f2a9c1e3f2a9c1e3f2a9c1e3f2a9c1e"
    assert lorawan.downlink_url("http://h:8100/", hex_id) == (
        "http://h:8100/iot-flow/downlinkMessages/3f2a9c1e-3f2a-9c1e-3f2a-9c1e3f2a9c1e"
    )
    assert lorawan.downlink_url("http://h", "not-a-uuid") == "http://h/iot-flow/downlinkMessages/not-a-uuid"
    assert lorawan.downlink_body({"DevEUI": "0018B20000000B20"}) == {
        "DevEUI_downlink": {"DevEUI": "0018B20000000B20"}
    }


def test_downlink_prefix_starts_every_downlink_url() -> None:
    assert lorawan.downlink_prefix("http://h:8100/") == "http://h:8100/iot-flow/downlinkMessages/"
    assert lorawan.downlink_prefix("http://h:8100") == "http://h:8100/iot-flow/downlinkMessages/"
    # The emulator stores its downlink UUIDs dashed and lower-case: they go into the URL unchanged.
    dashed = "3f2a9c1e-3f2a-9c1e-3f2a-9c1e3f2a9c1e"
    url = lorawan.downlink_url("http://h:8100", dashed)
    assert url == lorawan.downlink_prefix("http://h:8100") + dashed
    assert lorawan.downlink_url("http://h:8100", "") == lorawan.downlink_prefix("http://h:8100")


def test_callback_url_escapes_the_user() -> None:
    assert callback_url("http://h/", "a b", "d1") == "http://h/v3/users/a%20b/devices/d1/callback/data"
    assert rq.device_url("http://h", "local", "d1") == callback_url("http://h", "local", "d1")


def test_one_builder_gives_a_device_one_devaddr() -> None:
    one = build_uplink("0018b20000000b20", 1, time="t", fcnt_up=1, fcnt_dn=0, payload_hex="")
    two = build_uplink("0018B20000000B20", 2, time="t", fcnt_up=9, fcnt_dn=0, payload_hex="01")
    assert one["DevAddr"] == two["DevAddr"] == devaddr_for("0018B20000000B20")
    assert one["DevEUI"] == "0018B20000000B20"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (200, ExitCode.OK),
        (204, ExitCode.OK),
        (100, ExitCode.UNEXPECTED),
        (302, ExitCode.UNEXPECTED),
        (400, ExitCode.API_CLIENT_ERROR),
        (404, ExitCode.API_CLIENT_ERROR),
        (499, ExitCode.API_CLIENT_ERROR),
        (500, ExitCode.API_SERVER_ERROR),
        (503, ExitCode.API_SERVER_ERROR),
    ],
)
def test_one_status_to_exit_code_mapping(status: int, code: ExitCode) -> None:
    assert exit_code_for_status(status) is code
    # send-uplink's summary maps each status the same way ...
    assert exit_code_for({str(status): 1}) is code
    # ... and an ApiError (an answer the client could not use) is never 0 or 1.
    assert ApiError(status, "x").exit_code is (
        code if code >= ExitCode.API_CLIENT_ERROR else ExitCode.API_CLIENT_ERROR
    )


def test_the_most_severe_outcome_decides() -> None:
    assert exit_code_for({"200": 5, "404": 1, "503": 1}) is ExitCode.API_SERVER_ERROR
    assert exit_code_for({"503": 1, "timeout": 1}) is ExitCode.NETWORK
    assert exit_code_for({"302": 1, "404": 1}) is ExitCode.API_CLIENT_ERROR
    assert exit_code_for({"404": 0, "200": 1}) is ExitCode.OK
    assert exit_code_for({}) is ExitCode.OK
