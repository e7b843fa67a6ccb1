"""``iotcli connection ...`` against the in-process emulator: flags -> the configuration the server stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from tests.conftest import Cli
from tests.harness import InProcessEmulator, run_cli

TIAK = "bec499c69e9c939e413b663961636c61"
DEST = "http://127.0.0.1:9/uplinks"
API = "http://api.test"


def hashed(as_key: str) -> str:
    """How the emulator keeps a downlinkAsKey: as given (the LRC tunnel's Token needs the key itself)."""
    return as_key


def remote(*args: str) -> list[str]:
    return ["--server", API, "--token", "t0k3n", *args]


def stored(emulator: InProcessEmulator, cid: str) -> Any:
    """The connection as the emulator keeps it (secrets in clear, unlike the API)."""
    return emulator.emu.services["iotflow"].connections.cache[cid]


def create(cli: Cli, *args: str) -> dict[str, Any]:
    r = cli("--json", "connection", "create", *args)
    assert r.exit_code == 0, r.stderr + r.stdout
    data: dict[str, Any] = r.json()["data"]
    return data


def test_create_every_flag_reaches_the_stored_configuration(cli: Cli, emulator: InProcessEmulator) -> None:
    conn = create(
        cli,
        "app",
        "--destination", DEST,
        "--header", "X-Thing={DevEUI}",
        "-H", "Authorization=Bearer abc=def",
        "--strict",
        "--proxy", "http://bob:s%40cret@proxy.local:3128",
        "--lrc-compliance", "--tiak", TIAK.upper(),
        "--downlink-as-id", "as-1", "--downlink-as-key", "k3y",
        "--description", "my app",
        "--send-metadata", "--send-raw-decoded",
        "--uplink-time-validity", "5m",
        "--no-downlink", "--downlink-port", "7",
        "--reconnect-strategy", "aggressive",
        "--inactive",
    )  # fmt: skip
    assert conn["name"] == "app" and conn["connectorId"] == "actility-http-iot"
    assert conn["state"] == "DEACTIVATED" and conn["active"] is False
    # the answer masks secrets ...
    assert conn["configuration"]["tiak"] == "*****"
    assert conn["configuration"]["downlinkAsKey"] == "*****"
    assert conn["configuration"]["proxy"]["password"] == "*****"
    # ... the server stored them
    s = stored(emulator, conn["id"])
    assert s.active is False
    assert s.configuration == {
        "destinationURL": DEST,
        "headers": {"X-Thing": "{DevEUI}", "Authorization": "Bearer abc=def"},
        "strictMode": True,
        "proxy": {"hostname": "http://proxy.local:3128", "username": "bob", "password": "s@cret"},
        "lrcCompliance": True,
        "tiak": TIAK,
        "downlinkAsId": "as-1",
        "downlinkAsKey": hashed("k3y"),  # kept as given, masked in answers
        "description": "my app",
        "sendMetadata": True,
        "sendRawDecodedFormat": True,
        "uplinkTimeValidity": "5m",
        "downlinkEnabled": False,
        "downlinkPort": 7,
        "reconnectStrategy": "AGGRESSIVE",
        # defaults of the documented parameters the CLI has no flag for
        "createDevices": True,
        "blamePeriod": 30,
    }


def test_create_minimal_gets_server_defaults_and_human_output(cli: Cli, emulator: InProcessEmulator) -> None:
    r = cli("connection", "create", "app", "--destination", DEST)
    assert r.exit_code == 0, r.stderr
    cid = next(line.split()[1] for line in r.stdout.splitlines() if line.startswith("id "))
    # a new connection starts CLOSED, then turns OPENING and OPENED
    assert f"connection {cid} created (CLOSED)" in r.stderr
    assert f"destinationURL        {DEST}" in r.stdout
    # the downlinkUrl is shown for people: its UUID is the connection's own, not its id
    line = next(line for line in r.stdout.splitlines() if line.startswith("downlinkUrl"))
    uuid = stored(emulator, cid).downlink_uuid
    assert line.endswith(f"/iot-flow/downlinkMessages/{uuid}") and uuid != cid
    config = stored(emulator, cid).configuration
    assert config["strictMode"] is False and config["reconnectStrategy"] == "NORMAL"
    assert config["downlinkEnabled"] is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--destination", "ftp://x/y"], "--destination 'ftp://x/y' is not an http:// or https:// URL"),
        (["--destination", "not a url"], "is not an http:// or https:// URL"),
        (["--destination", DEST, "--header", "NoEquals"], "--header 'NoEquals' is not K=V"),
        (["--destination", DEST, "--header", "Bad Name=x"], "'Bad Name' is not a valid header name"),
        (["--destination", DEST, "--lrc-compliance", "--tiak", "abc"], "--tiak must be 32 hex digits"),
        (["--destination", DEST, "--proxy", "proxy.local:3128"], "--proxy 'proxy.local:3128' is not a URL"),
        (
            ["--destination", DEST, "--proxy", "http://h:99999"],
            "--proxy 'http://h:99999' has an invalid port",
        ),
        ([], "--destination URL is required"),
    ],
)
def test_obvious_mistakes_are_usage_errors_and_nothing_is_sent(args: list[str], message: str) -> None:
    with respx.mock(assert_all_called=False) as router:
        anything = router.route().mock(return_value=httpx.Response(201, json={}))
        r = run_cli(remote("connection", "create", "app", *args))
    assert r.exit_code == 2
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not anything.called


def test_create_without_name(cli: Cli) -> None:
    r = cli("connection", "create", "--destination", DEST)
    assert r.exit_code == 2 and "give the connection a NAME" in r.stderr


def test_server_validation_errors_name_the_field(cli: Cli) -> None:
    r = cli("connection", "create", "app", "--destination", DEST, "--uplink-time-validity", "5 minutes")
    assert r.exit_code == 4
    assert "uplinkTimeValidity" in r.stderr and "Traceback" not in r.stderr
    r = cli("--json", "connection", "create", "app", "--destination", DEST, "--uplink-time-validity", "0m")
    assert r.exit_code == 4 and r.json()["error"]["status"] == 400


def test_reconnect_strategy_choices_are_checked_by_the_cli(cli: Cli) -> None:
    r = cli("connection", "create", "app", "--destination", DEST, "--reconnect-strategy", "SLOW")
    assert r.exit_code == 2 and "SLOW" in r.stderr


def test_file_json_with_flags_overriding(cli: Cli, emulator: InProcessEmulator, tmp_path: Path) -> None:
    path = tmp_path / "conn.json"
    path.write_text(
        json.dumps(
            {
                "name": "from-file",
                "configuration": {
                    "destinationURL": "http://127.0.0.1:1/file",
                    "headers": {"X-From": "file"},
                    "strictMode": True,
                },
                "alarms": [],
            }
        )
    )
    conn = create(cli, "--file", str(path), "--no-strict", "-H", "X-Flag=1")
    assert conn["name"] == "from-file"
    config = stored(emulator, conn["id"]).configuration
    assert config["strictMode"] is False
    assert config["headers"] == {"X-From": "file", "X-Flag": "1"}
    assert config["destinationURL"] == "http://127.0.0.1:1/file"
    # the NAME argument overrides the file's name
    assert create(cli, "renamed", "--file", str(path))["name"] == "renamed"


def test_file_toml_bare_configuration(cli: Cli, emulator: InProcessEmulator, tmp_path: Path) -> None:
    path = tmp_path / "conn.toml"
    path.write_text(
        f'destinationURL = "{DEST}"\nsendMetadata = true\nreconnectStrategy = "CALM"\n\n'
        '[headers]\nX-Thing = "{DevEUI}"\n'
    )
    conn = create(cli, "toml-app", "--file", str(path), "--destination", "https://example.test/hook")
    config = stored(emulator, conn["id"]).configuration
    assert config["destinationURL"] == "https://example.test/hook"
    assert config["sendMetadata"] is True and config["reconnectStrategy"] == "CALM"
    assert config["headers"] == {"X-Thing": "{DevEUI}"}


def test_file_from_stdin(cli: Cli) -> None:
    r = cli(
        "--json", "connection", "create", "piped", "--file", "-", input=json.dumps({"destinationURL": DEST})
    )
    assert r.exit_code == 0, r.stderr
    assert r.json()["data"]["configuration"]["destinationURL"] == DEST


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.json", "{not json", "is not valid JSON"),
        ("bad.toml", "a = [", "is neither valid TOML nor JSON"),
        ("bad.conf", "][", "is neither valid TOML nor JSON"),
        ("list.json", "[1, 2]", "must hold an object"),
    ],
)
def test_bad_files_are_usage_errors(cli: Cli, tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    r = cli("connection", "create", "x", "--file", str(path))
    assert r.exit_code == 2 and message in r.stderr


def test_missing_file(cli: Cli, tmp_path: Path) -> None:
    r = cli("connection", "create", "x", "--file", str(tmp_path / "nope.json"))
    assert r.exit_code == 2 and "nope.json" in r.stderr


def test_file_with_unknown_key_is_stored_with_a_warning(
    cli: Cli, emulator: InProcessEmulator, tmp_path: Path
) -> None:
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"destinationURL": DEST, "colour": "blue"}))
    r = cli("connection", "create", "x", "--file", str(path))
    assert r.exit_code == 0, r.stderr
    assert "warning: unknown key 'configuration.colour': stored and echoed as given" in r.stderr.splitlines()
    cid = next(line.split()[1] for line in r.stdout.splitlines() if line.startswith("id "))
    assert stored(emulator, cid).configuration["colour"] == "blue"


def test_lrc_compliance_without_tiak_gets_a_generated_one(cli: Cli, emulator: InProcessEmulator) -> None:
    r = cli("--json", "connection", "create", "x", "--destination", DEST, "--lrc-compliance")
    assert r.exit_code == 0, r.stderr
    data = r.json()["data"]
    tiak = stored(emulator, data["id"]).configuration["tiak"]
    assert len(tiak) == 32 and int(tiak, 16) >= 0 and data["configuration"]["tiak"] == tiak
    assert "the server generated the tiak" in r.stderr
    assert cli("--json", "connection", "show", data["id"]).json()["data"]["configuration"]["tiak"] == "*****"


def test_list_table_and_json(cli: Cli) -> None:
    a = create(cli, "alpha", "--destination", DEST)
    b = create(cli, "beta", "--destination", "https://example.test/b", "--inactive")
    r = cli("connection", "list")
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0].split("\t") == ["ID", "NAME", "STATE", "ACTIVE", "DESTINATION"]
    assert (
        f"{a['id']}\talpha\tCLOSED\tyes\t{DEST}" in lines or f"{a['id']}\talpha\tOPENED\tyes\t{DEST}" in lines
    )
    assert f"{b['id']}\tbeta\tDEACTIVATED\tno\thttps://example.test/b" in lines
    data = cli("--json", "connection", "list").json()["data"]
    assert {c["id"] for c in data} == {a["id"], b["id"]}


def test_show_human_and_json(cli: Cli) -> None:
    conn = create(cli, "alpha", "--destination", DEST, "--downlink-as-key", "secret-key")
    r = cli("connection", "show", conn["id"])
    assert r.exit_code == 0
    assert "secret-key" not in r.stdout and "downlinkAsKey         *****" in r.stdout
    assert "state                 " in r.stdout
    data = cli("--json", "connection", "show", conn["id"]).json()["data"]
    assert data["id"] == conn["id"] and data["configuration"]["downlinkAsKey"] == "*****"
    assert "/iot-flow/downlinkMessages/" in data["downlinkUrl"]


def test_show_and_delete_missing_are_4xx(cli: Cli) -> None:
    missing = "0" * 32
    for cmd in ("show", "delete", "update"):
        r = cli("connection", cmd, missing, *(["--yes"] if cmd == "delete" else []))
        assert r.exit_code == 4, (cmd, r.stderr)
        assert "not found" in r.stderr and "hint:" in r.stderr


def test_update_applies_flags_and_keeps_masked_secrets(cli: Cli, emulator: InProcessEmulator) -> None:
    conn = create(
        cli,
        "alpha",
        "--destination", DEST,
        "-H", "X-Keep=1", "-H", "X-Drop=2",
        "--proxy", "http://bob:pw@proxy.local:3128",
        "--lrc-compliance", "--tiak", TIAK,
        "--downlink-as-id", "as-1", "--downlink-as-key", "k3y",
        "--strict",
    )  # fmt: skip
    r = cli(
        "connection", "update", conn["id"],
        "--name", "renamed",
        "--no-strict",
        "-H", "X-New={DevEUI}", "--remove-header", "X-Drop",
        "--uplink-time-validity", "10m",
        "--reconnect-strategy", "CALM",
        "--inactive",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "updated (DEACTIVATED)" in r.stderr and "name                  renamed" in r.stdout
    s = stored(emulator, conn["id"])
    assert s.name == "renamed" and s.active is False
    assert s.configuration["strictMode"] is False
    assert s.configuration["headers"] == {"X-Keep": "1", "X-New": "{DevEUI}"}
    assert s.configuration["uplinkTimeValidity"] == "10m"
    assert s.configuration["reconnectStrategy"] == "CALM"
    # secrets came back as "*****" and were sent back as such: the server kept them
    assert s.configuration["tiak"] == TIAK
    assert s.configuration["downlinkAsKey"] == hashed("k3y")
    assert s.configuration["proxy"] == {
        "hostname": "http://proxy.local:3128",
        "username": "bob",
        "password": "pw",
    }
    assert s.configuration["lrcCompliance"] is True and s.configuration["downlinkAsId"] == "as-1"


def test_update_json_and_reactivate_and_replace_secret(cli: Cli, emulator: InProcessEmulator) -> None:
    conn = create(cli, "alpha", "--destination", DEST, "--inactive", "--downlink-as-key", "old")
    r = cli(
        "--json", "connection", "update", conn["id"], "--active", "--downlink-as-key", "new", "--no-proxy"
    )
    assert r.exit_code == 0, r.stderr
    data = r.json()["data"]
    assert data["state"] == "CLOSED" and data["active"] is True  # re-activated: starting again
    assert stored(emulator, conn["id"]).configuration["downlinkAsKey"] == hashed("new")


def test_update_removes_proxy(cli: Cli, emulator: InProcessEmulator) -> None:
    conn = create(cli, "alpha", "--destination", DEST, "--proxy", "http://u:p@proxy.local:8080")
    assert cli("connection", "update", conn["id"], "--no-proxy").exit_code == 0
    assert "proxy" not in stored(emulator, conn["id"]).configuration


def test_update_with_file_overlays_configuration(
    cli: Cli, emulator: InProcessEmulator, tmp_path: Path
) -> None:
    conn = create(cli, "alpha", "--destination", DEST, "--tiak", TIAK, "--lrc-compliance")
    path = tmp_path / "patch.toml"
    path.write_text('destinationURL = "https://example.test/new"\nstrictMode = true\n')
    r = cli("connection", "update", conn["id"], "--file", str(path), "--description", "flag wins")
    assert r.exit_code == 0, r.stderr
    config = stored(emulator, conn["id"]).configuration
    assert config["destinationURL"] == "https://example.test/new" and config["strictMode"] is True
    assert config["description"] == "flag wins" and config["tiak"] == TIAK


def test_update_usage_errors(cli: Cli) -> None:
    conn = create(cli, "alpha", "--destination", DEST, "-H", "A=1")
    r = cli("connection", "update", conn["id"], "--remove-header", "B")
    assert r.exit_code == 2 and "no such header" in r.stderr
    r = cli("connection", "update", conn["id"], "--proxy", "http://h:1", "--no-proxy")
    assert r.exit_code == 2 and "contradict" in r.stderr


def test_delete_human_and_json(cli: Cli, emulator: InProcessEmulator) -> None:
    a = create(cli, "alpha", "--destination", DEST)
    b = create(cli, "beta", "--destination", DEST)
    r = cli("connection", "delete", a["id"], "--yes")
    assert r.exit_code == 0 and f"connection {a['id']} deleted" in r.stderr and r.stdout == ""
    r = cli("--json", "connection", "delete", b["id"], "-y")
    assert r.exit_code == 0 and r.json() == {"data": {"id": b["id"], "deleted": True}}
    assert emulator.http.get("/iot-flow/v1/connections").json() == []


def test_help_has_examples() -> None:
    for cmd in ("create", "list", "show", "update", "delete"):
        r = run_cli(["connection", cmd, "--help"])
        assert r.exit_code == 0 and "Example" in r.stdout, cmd


# -- error cases against a mocked server ------------------------------------------------------------


@respx.mock
def test_5xx_is_exit_5() -> None:
    respx.get(f"{API}/iot-flow/v1/connections").mock(
        return_value=httpx.Response(503, json={"code": "UNAVAILABLE", "message": "down for maintenance"})
    )
    r = run_cli(remote("connection", "list"))
    assert r.exit_code == 5 and "down for maintenance" in r.stderr


@respx.mock
def test_timeout_is_exit_6() -> None:
    respx.get(f"{API}/iot-flow/v1/connections/abc").mock(side_effect=httpx.ReadTimeout("slow"))
    r = run_cli(remote("connection", "update", "abc", "--strict"))
    assert r.exit_code == 6 and "no answer in time" in r.stderr


@respx.mock
def test_create_sends_the_contract_body() -> None:
    route = respx.post(f"{API}/iot-flow/v1/connections").mock(
        return_value=httpx.Response(201, json={"id": "c1", "name": "x", "state": "OPEN", "configuration": {}})
    )
    r = run_cli(remote("--json", "connection", "create", "x", "-d", "https://a.test/u", "--strict"))
    assert r.exit_code == 0, r.stderr
    sent = json.loads(route.calls.last.request.content)
    assert sent == {
        "connectorId": "actility-http-iot",
        "name": "x",
        "configuration": {"destinationURL": "https://a.test/u", "strictMode": True},
    }
    assert route.calls.last.request.headers["Authorization"] == "Bearer t0k3n"


@respx.mock
def test_update_puts_the_whole_connection_without_read_only_fields() -> None:
    current = {
        "id": "c1",
        "connectorId": "actility-http-iot",
        "name": "x",
        "active": True,
        "startupTime": "2026-01-01T00:00:00.000+00:00",
        "state": "CLOSED",
        "configuration": {"destinationURL": "https://a.test/u", "tiak": "*****", "lrcCompliance": True},
    }
    respx.get(f"{API}/iot-flow/v1/connections/c1").mock(return_value=httpx.Response(200, json=current))
    put = respx.put(f"{API}/iot-flow/v1/connections/c1").mock(
        return_value=httpx.Response(200, json={**current, "state": "OPEN"})
    )
    r = run_cli(remote("connection", "update", "c1", "--description", "d"))
    assert r.exit_code == 0, r.stderr
    sent = json.loads(put.calls.last.request.content)
    assert sent == {
        "connectorId": "actility-http-iot",
        "name": "x",
        "active": True,
        "configuration": {
            "destinationURL": "https://a.test/u",
            "tiak": "*****",
            "lrcCompliance": True,
            "description": "d",
        },
    }


def test_copy_a_connection_through_its_json(cli: Cli, emulator: InProcessEmulator, tmp_path: Path) -> None:
    original = create(cli, "alpha", "--destination", DEST, "-H", "X-A=1", "--strict")
    saved = cli("--json", "connection", "show", original["id"])
    path = tmp_path / "alpha.json"
    path.write_text(saved.stdout)
    copy = create(cli, "beta", "--file", str(path))
    assert copy["id"] != original["id"] and copy["name"] == "beta"
    assert stored(emulator, copy["id"]).configuration == stored(emulator, original["id"]).configuration
