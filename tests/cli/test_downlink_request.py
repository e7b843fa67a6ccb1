"""``iotcli downlink send`` against a mocked server: the body sent, where, with which token, and errors."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from tests.harness import run_cli

API = "http://api.test"
CID = "8c0d6e5a3f2b4c1d9e8f7a6b5c4d3e2f"
DASHED = "8c0d6e5a-3f2b-4c1d-9e8f-7a6b5c4d3e2f"
QUEUED = httpx.Response(202, json={"id": "d1", "status": "queued"})


def remote(*args: str) -> list[str]:
    return ["--server", API, "--token", "t0k3n", *args]


@respx.mock
def test_every_flag_reaches_the_body() -> None:
    route = respx.post(f"{API}/iot-flow/downlinkMessages/{DASHED}").mock(return_value=QUEUED)
    r = run_cli(
        remote(
            "--json",
            "downlink",
            "send",
            "--connection",
            CID,
            "--deveui",
            "00-18-b2-00-00-00-0b-20",
            "--fport",
            "3",
            "--payload",
            '{"led": "on"}',
            "--confirmed",
            "--flush",
            "--validity-time",
            "2030-01-01T00:00:00Z",
            "--fcntdn",
            "4",
            "--correlation-id",
            "0123456789abcdef",
            "--as-id",
            "as-1",
            "--as-key",
            "k3y",
        )  # fmt: skip
    )
    assert r.exit_code == 0, r.stderr
    assert r.json() == {"data": {"id": "d1", "status": "queued"}}
    request = route.calls.last.request
    assert json.loads(request.content) == {
        "DevEUI_downlink": {
            "DevEUI": "0018B20000000B20",
            "FPort": 3,
            "payload": {"led": "on"},
            "Confirmed": "1",
            "FlushDownlinkQueue": "1",
            "ValidityTime": "2030-01-01T00:00:00Z",
            "FCntDn": 4,
            "CorrelationID": "0123456789abcdef",  # as given: the Sent report echoes it
            "AS_ID": "as-1",
            "AS_KEY": "k3y",
        }
    }
    assert request.headers["Authorization"] == "Bearer t0k3n"


@respx.mock
def test_to_a_url_on_this_server_and_human_output() -> None:
    route = respx.post(f"{API}/iot-flow/downlinkMessages/{DASHED}").mock(return_value=QUEUED)
    r = run_cli(
        remote(
            "downlink",
            "send",
            f"{API}/iot-flow/downlinkMessages/{DASHED}",
            "--deveui",
            "0018B20000000B20",
            "--payload-hex",
            "0A0B",
        )  # fmt: skip
    )
    assert r.exit_code == 0, r.stderr
    assert json.loads(route.calls.last.request.content) == {
        "DevEUI_downlink": {"DevEUI": "0018B20000000B20", "payload_hex": "0a0b"}
    }
    assert "downlink d1 queued for 0018B20000000B20" in r.stderr
    assert "status  queued" in r.stdout


@respx.mock
def test_the_token_does_not_go_to_another_server() -> None:
    route = respx.post("https://elsewhere.test/iot-flow/downlinkMessages/x").mock(return_value=QUEUED)
    r = run_cli(
        remote(
            "downlink",
            "send",
            "https://elsewhere.test/iot-flow/downlinkMessages/x",
            "--deveui",
            "0018B20000000B20",
            "--fport",
            "1",
            "--payload-hex",
            "01",
        )  # fmt: skip
    )
    assert r.exit_code == 0, r.stderr
    assert "authorization" not in route.calls.last.request.headers


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--deveui", "0018B20000000B20", "--payload-hex", "01"], "give the downlinkUrl or --connection"),
        (["--connection", CID, "--payload-hex", "01"], "--deveui is required"),
        (["--connection", CID, "--deveui", "0018B2", "--payload-hex", "01"], "is not 16 hex digits"),
        (["--connection", CID, "--deveui", "0018B20000000B20"], "exactly one of --payload-hex"),
        (
            ["--connection", CID, "--deveui", "0018B20000000B20", "--payload-hex", "01", "--payload", "{}"],
            "exactly one of --payload-hex",
        ),
        (["--connection", CID, "--deveui", "0018B20000000B20", "--payload-hex", "0g"], "is not hex"),
        (["--connection", CID, "--deveui", "0018B20000000B20", "--payload-hex", "012"], "is not hex"),
        (
            ["--connection", CID, "--deveui", "0018B20000000B20", "--payload", "{nope"],
            "--payload is not valid JSON",
        ),
        (
            [
                "--connection",
                CID,
                "--deveui",
                "0018B20000000B20",
                "--payload-hex",
                "01",
                "--correlation-id",
                "12345678901234567",
            ],
            "--correlation-id '12345678901234567' is not 1 to 16 hex digits",
        ),
        ([CID, "--deveui", "0018B20000000B20", "--payload-hex", "01"], f"use --connection {CID}"),
        (
            ["http://x/y", "--connection", CID, "--deveui", "0018B20000000B20", "--payload-hex", "01"],
            "one of them",
        ),
    ],
)
def test_obvious_mistakes_are_usage_errors(args: list[str], message: str) -> None:
    with respx.mock(assert_all_called=False) as router:
        route = router.route().mock(return_value=QUEUED)
        r = run_cli(remote("downlink", "send", *args))
    assert r.exit_code == 2, r.stderr
    assert message in r.stderr and r.stderr.count("error:") == 1
    assert not route.called


def test_fport_range_is_checked_locally() -> None:
    r = run_cli(
        remote("downlink", "send", "--connection", CID, "--deveui", "0018B20000000B20", "--fport", "0")
    )
    assert r.exit_code == 2 and "--fport" in r.stderr


@respx.mock
@pytest.mark.parametrize(
    ("status", "message", "exit_code"),
    [
        (400, "field 'DevEUI_downlink.FPort' is required", 4),
        (401, "'DevEUI_downlink.AS_KEY' does not match", 4),
        (403, "downlinks are disabled on this connection", 4),
        (404, "no connection with uuid", 4),
        (502, "bad gateway", 5),
    ],
)
def test_server_refusals(status: int, message: str, exit_code: int) -> None:
    respx.post(f"{API}/iot-flow/downlinkMessages/{DASHED}").mock(
        return_value=httpx.Response(status, json={"code": "X", "message": message})
    )
    r = run_cli(
        remote("downlink", "send", "--connection", CID, "--deveui", "0018B20000000B20", "--payload-hex", "01")
    )
    assert r.exit_code == exit_code and message in r.stderr and "Traceback" not in r.stderr


@respx.mock
def test_timeout_is_exit_6() -> None:
    respx.post(f"{API}/iot-flow/downlinkMessages/{DASHED}").mock(side_effect=httpx.ReadTimeout("slow"))
    r = run_cli(
        remote("downlink", "send", "--connection", CID, "--deveui", "0018B20000000B20", "--payload-hex", "01")
    )
    assert r.exit_code == 6 and "no answer in time" in r.stderr


@respx.mock
def test_list_filters_by_normalised_deveui() -> None:
    row = {
        "id": "d1",
        "DevEUI": "0018B20000000B20",
        "FPort": 1,
        "FCntDn": 3,
        "status": "sent",
        "connection": CID,
        "payload_hex": "01",
        "cause": "00",
    }
    route = respx.get(f"{API}/_emulator/lorawan/downlinks").mock(return_value=httpx.Response(200, json=[row]))
    r = run_cli(remote("downlink", "list", "--deveui", "0018b200-0000-0b20"))
    assert r.exit_code == 0, r.stderr
    assert dict(route.calls.last.request.url.params) == {"DevEUI": "0018B20000000B20", "limit": "100"}
    lines = r.stdout.splitlines()
    assert lines[0].split("\t") == [
        "ID",
        "DEVEUI",
        "FPORT",
        "FCNTDN",
        "STATUS",
        "CAUSE",
        "CONNECTION",
        "PAYLOAD",
    ]
    assert lines[1].split("\t") == ["d1", "0018B20000000B20", "1", "3", "sent", "00", CID, "01"]
    assert run_cli(remote("--json", "downlink", "list")).json() == {"data": [row]}


def test_help_has_examples() -> None:
    for cmd in ("send", "list"):
        r = run_cli(["downlink", cmd, "--help"])
        assert r.exit_code == 0 and "Example" in r.stdout, cmd


@respx.mock
def test_unreachable_foreign_downlink_url_names_that_host() -> None:
    respx.post("https://elsewhere.test/dl").mock(
        side_effect=httpx.ConnectError("[Errno 111] Connection refused")
    )
    r = run_cli(
        remote(
            "downlink",
            "send",
            "https://elsewhere.test/dl",
            "--deveui",
            "0018B20000000B20",
            "--fport",
            "1",
            "--payload-hex",
            "01",
        )
    )
    assert r.exit_code == 6
    assert "https://elsewhere.test" in r.stderr and "connection refused" in r.stderr and API not in r.stderr


@respx.mock
def test_validity_in_seconds_afcntdn_and_a_short_correlation_id() -> None:
    """Downlink_Message/README.md: ValidityTime "ISO 8601 timestamp or Duration in seconds", AFCntDn,
    a CorrelationID of fewer than 16 hex digits (thingpark-integrations send_downlink_with_token.py: "1234")."""
    route = respx.post(f"{API}/iot-flow/downlinkMessages/{DASHED}").mock(return_value=QUEUED)
    r = run_cli(
        remote(
            "downlink",
            "send",
            "--connection",
            CID,
            "--deveui",
            "0018B20000000B20",
            "--payload-hex",
            "01",
            "--validity-time",
            "3600",
            "--afcntdn",
            "9",
            "--correlation-id",
            "1234",
        )  # fmt: skip
    )
    assert r.exit_code == 0, r.stderr
    sent = json.loads(route.calls.last.request.content)["DevEUI_downlink"]
    assert sent["ValidityTime"] == 3600 and sent["AFCntDn"] == 9 and sent["CorrelationID"] == "1234"
