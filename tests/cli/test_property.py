"""iotcli property list|get|set|delete against the in-process emulator."""

from __future__ import annotations

from tests.conftest import Cli


def test_set_get_list_delete(cli: Cli) -> None:
    cli("device", "create", "d1")
    r = cli("property", "set", "d1", "command", '{"led": "on", "level": 3}')
    assert r.exit_code == 0, r.stderr
    assert "property 'command' of device 'd1' set" in r.stderr
    r = cli("--json", "property", "set", "d1", "label", "kitchen")  # not JSON: a string
    assert r.exit_code == 0, r.stderr
    assert r.json()["data"]["value"] == "kitchen"
    cli("property", "set", "d1", "n", "21.5")
    cli("property", "set", "d1", "s", "42", "--string")

    assert cli("--json", "property", "get", "d1", "command").json()["data"]["value"] == {
        "led": "on",
        "level": 3,
    }
    assert cli("--json", "property", "get", "d1", "n").json()["data"]["value"] == 21.5
    assert cli("--json", "property", "get", "d1", "s").json()["data"]["value"] == "42"
    got = cli("--json", "property", "get", "d1", "label").json()["data"]
    assert got["property"] == "label" and got["value"] == "kitchen"
    r = cli("property", "get", "d1", "command")  # people get the value as JSON
    assert r.exit_code == 0 and r.stdout.startswith("{") and '"led": "on"' in r.stdout
    assert cli("property", "get", "d1", "label").stdout == "kitchen\n"

    r = cli("property", "list", "d1")
    header, *rows = r.stdout.splitlines()
    assert header.split("\t") == ["PROPERTY", "VALUE", "MODIFIED"]
    values = {row.split("\t")[0]: row.split("\t")[1] for row in rows}
    assert values == {"command": '{"led":"on","level":3}', "label": "kitchen", "n": "21.5", "s": "42"}
    listed = cli("--json", "property", "list", "d1").json()["data"]
    assert sorted(p["property"] for p in listed) == ["command", "label", "n", "s"]

    cli("property", "set", "d1", "n", "22")  # overwrite
    assert cli("--json", "property", "get", "d1", "n").json()["data"]["value"] == 22

    r = cli("property", "delete", "d1", "label", "--yes")
    assert r.exit_code == 0 and "deleted" in r.stderr
    r = cli("--json", "property", "delete", "d1", "n", "--yes")
    assert r.json() == {"data": {"device": "d1", "property": "n", "deleted": True}}
    assert sorted(p["property"] for p in cli("--json", "property", "list", "d1").json()["data"]) == [
        "command",
        "s",
    ]


def test_errors(cli: Cli) -> None:
    cli("device", "create", "d1")
    assert cli("property", "get", "d1", "missing").exit_code == 4
    assert cli("property", "delete", "d1", "missing", "--yes").exit_code == 4
    assert cli("property", "list", "ghost").exit_code == 4
    assert cli("property", "set", "ghost", "p", "1").exit_code == 4
    r = cli("property", "set", "d1", "bad id", "1")
    assert r.exit_code == 2 and "property id" in r.stderr
    assert cli("property", "set", "d1").exit_code == 2  # missing arguments
