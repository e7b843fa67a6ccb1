"""``iotcli sink ...`` and ``sink:NAME`` destinations, against the in-process emulator."""

from __future__ import annotations

import pytest

from tests.conftest import Cli
from tests.harness import InProcessEmulator


def test_create_prints_the_url_and_the_script(cli: Cli, emulator: InProcessEmulator) -> None:
    r = cli("sink", "create", "flaky", "--respond", "503,503,200", "--delay", "1s-3s", "--default", "204")
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == f"{emulator.settings.base_url}/_emulator/sinks/flaky/in"
    assert "503,503,200 then 204, delay 1-3s" in r.stderr
    sink = emulator.http.get("/_emulator/sinks/flaky").json()
    assert sink["respond"] == [503, 503, 200] and sink["default"] == 204 and sink["delay"] == [1, 3]


def test_create_json_with_downlink_body_and_headers(cli: Cli) -> None:
    r = cli(
        "--json", "sink", "create", "app", "--downlink-hex", "0A", "--fport", "2",
        "--body", '{"ok": true}', "-H", "X-App=smoke",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    data = r.json()["data"]
    assert data["downlink"] == {"payload_hex": "0a", "FPort": 2}
    assert data["body"] == {"ok": True} and data["headers"] == {"X-App": "smoke"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--respond", "503,,200"], "--respond: '503,,200' is not a list of answers"),
        (["--respond", "503,9000"], "--respond: '9000' is not an answer"),
        (["--respond", "ok"], "--respond: 'ok' is not an answer"),
        (["--delay", "soon"], "--delay: 'soon' is not a duration"),
        (["--delay", "3s-1s"], "minimum 3 is larger than the maximum 1"),
        (["--downlink-hex", "xyz"], "--downlink-hex: must be an even number of hex digits"),
        (["--downlink-hex", "0a", "--fport", "0"], "--fport: '0' must be a number 1-224"),
        (["--fport", "2"], "--fport goes with --downlink-hex"),
        (["-H", "novalue"], "--header 'novalue' is not K=V"),
    ],
)
def test_bad_options_are_usage_errors(
    cli: Cli, emulator: InProcessEmulator, args: list[str], message: str
) -> None:
    r = cli("sink", "create", "x", *args)
    assert r.exit_code == 2 and message in r.stderr, r.stderr
    assert emulator.http.get("/_emulator/sinks").json() == []  # nothing was created


def test_duplicate_and_replace(cli: Cli, emulator: InProcessEmulator) -> None:
    assert cli("sink", "create", "app").exit_code == 0
    r = cli("sink", "create", "app")
    assert r.exit_code == 4 and "already exists" in r.stderr
    assert cli("sink", "create", "app", "--replace", "--respond", "500").exit_code == 0
    assert emulator.http.get("/_emulator/sinks/app").json()["respond"] == [500]


def test_list_show_requests_clear_delete(cli: Cli, emulator: InProcessEmulator) -> None:
    cli("sink", "create", "app", "--respond", "503")
    emulator.anon("POST", "/_emulator/sinks/app/in/up?x=1", json={"n": 1}, headers={"X-Key": "k"})
    emulator.anon("POST", "/_emulator/sinks/app/in", json={"n": 2})
    r = cli("sink", "list")
    assert r.exit_code == 0 and "app" in r.stdout and "503 then 200" in r.stdout
    r = cli("sink", "requests", "app")
    lines = r.stdout.splitlines()
    assert lines[0].split("\t") == ["ID", "TIME", "METHOD", "PATH", "ANSWER", "BYTES"]
    assert lines[1].split("\t")[2:] == ["POST", "/up?x=1", "503", "7"] and lines[2].split("\t")[4] == "200"
    data = cli("--json", "sink", "requests", "app").json()["data"]
    assert [d["json"] for d in data] == [{"n": 1}, {"n": 2}] and data[0]["headers"]["x-key"] == "*****"
    shown = cli("--json", "sink", "requests", "app", "--show-secrets", "--limit", "1").json()["data"]
    assert len(shown) == 1 and shown[0]["headers"]["x-key"] == "k"
    assert cli("--json", "sink", "show", "app").json()["data"]["requests"] == 2
    r = cli("sink", "clear", "app")
    assert r.exit_code == 0 and "2 requests cleared" in r.stderr
    assert cli("--json", "sink", "requests", "app").json()["data"] == []
    r = cli("sink", "delete", "app")  # no terminal to ask on, no --yes: refused
    assert r.exit_code == 2 and "--yes" in r.stderr
    assert cli("sink", "delete", "app", "--yes").exit_code == 0
    assert cli("--json", "sink", "list").json()["data"] == []


def test_unknown_sink_exits_4(cli: Cli) -> None:
    for args in (["show", "nope"], ["requests", "nope"], ["clear", "nope"], ["delete", "nope", "--yes"]):
        r = cli("sink", *args)
        assert r.exit_code == 4 and "sink 'nope' not found" in r.stderr, args


def test_count_needs_follow(cli: Cli) -> None:
    cli("sink", "create", "app")
    r = cli("sink", "requests", "app", "--count", "2")
    assert r.exit_code == 2 and "--count goes with --follow" in r.stderr


def test_connection_and_endpoint_destinations_resolve_sink_names(
    cli: Cli, emulator: InProcessEmulator
) -> None:
    url = cli("sink", "create", "app").stdout.strip()
    r = cli("--json", "connection", "create", "to-app", "--destination", "sink:app")
    assert r.exit_code == 0, r.stderr
    assert r.json()["data"]["configuration"]["destinationURL"] == url
    r = cli("--json", "connection", "create", "to-sub", "--destination", "sink:app/uplinks")
    assert r.json()["data"]["configuration"]["destinationURL"] == url + "/uplinks"
    r = cli("--json", "endpoint", "create", "hook", "--url", "sink:app")
    assert r.exit_code == 0, r.stderr
    assert emulator.http.get("/v1/users/local/endpoints/hook").json()["config"]["url"] == url
    cid = emulator.http.get("/iot-flow/v1/connections").json()[0]["id"]
    assert cli("sink", "create", "other").exit_code == 0
    assert cli("connection", "update", cid, "--destination", "sink:other").exit_code == 0
    assert (
        emulator.http.get(f"/iot-flow/v1/connections/{cid}")
        .json()["configuration"]["destinationURL"]
        .endswith("/sinks/other/in")
    )


def test_unknown_sink_destination_exits_4_and_creates_nothing(cli: Cli, emulator: InProcessEmulator) -> None:
    r = cli("connection", "create", "c", "--destination", "sink:nope")
    assert r.exit_code == 4 and "sink 'nope' not found" in r.stderr
    assert emulator.http.get("/iot-flow/v1/connections").json() == []
    r = cli("endpoint", "create", "e", "--url", "sink:nope")
    assert r.exit_code == 4
