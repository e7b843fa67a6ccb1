"""iotcli device create|list|show|update|delete|stats against the in-process emulator."""

from __future__ import annotations

import shlex
from typing import Any

from tests.conftest import Cli
from tests.harness import InProcessEmulator

CB = "/v3/users/local/devices/{}/callback/data"


def ingest(emulator: InProcessEmulator, device: str, token: str, payload: Any) -> Any:
    r = emulator.anon("POST", CB.format(device), headers={"Authorization": f"Bearer {token}"}, json=payload)
    assert r.status_code == 200, r.text
    return r.json() if r.content else None


def test_create_minimal_prints_callback_url(cli: Cli) -> None:
    r = cli("device", "create", "d1")
    assert r.exit_code == 0, r.stderr
    assert "callback_url  http://testserver/v3/users/local/devices/d1/callback/data" in r.stdout
    assert "iotcli device token create d1" in r.stdout  # no token yet: says how to get one
    assert "curl" in r.stdout and "$DEVICE_TOKEN" in r.stdout
    dev = cli("--json", "device", "show", "d1").json()["data"]
    assert dev["device"] == "d1" and dev["type"] == "HTTP" and dev["enabled"] is True


def test_create_one_command_to_a_working_device(cli: Cli, emulator: InProcessEmulator) -> None:
    r = cli(
        "--json", "device", "create", "sensor-1", "--name", "Greenhouse", "--description", "north wall",
        "--bucket", "readings", "--property", "last", "--response-property", "command",
        "--timeout", "5", "--with-token",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    data = r.json()["data"]
    assert data["device"]["device"] == "sensor-1" and data["device"]["name"] == "Greenhouse"
    assert data["bucket"] == {"bucket": "readings", "created": True}
    assert data["callback"]["actions"] == {
        "write_bucket": "readings",
        "set_property": "last",
        "send_property": "command",
    }
    assert data["callback"]["properties"] == {"timeout": 5}
    assert data["callback_url"] == "http://testserver" + CB.format("sensor-1")
    token = data["token"]["token"]
    assert token and data["token"]["name"] == "callback" and data["token"]["id"]
    argv = shlex.split(data["curl"])
    assert argv[:4] == ["curl", "-sS", "-X", "POST"] and data["callback_url"] in argv
    assert f"Authorization: Bearer {token}" in argv

    # the bucket really is a write bucket, the callback settings are stored
    bucket = cli("--json", "bucket", "show", "readings").json()["data"]
    assert bucket["config"]["source"] == "write"
    shown = cli("--json", "device", "callback", "show", "sensor-1").json()["data"]
    assert shown["actions"]["write_bucket"] == "readings" and shown["properties"]["timeout"] == 5

    # and the device works with the printed token
    cli("property", "set", "sensor-1", "command", '{"led": "on"}')
    answer = ingest(emulator, "sensor-1", token, {"temperature": 21.5})
    assert answer == {"led": "on"}
    assert cli("--json", "property", "get", "sensor-1", "last").json()["data"]["value"] == {
        "temperature": 21.5
    }
    records = cli("--json", "bucket", "read", "readings").json()["data"]
    assert [rec["val"] for rec in records] == [{"temperature": 21.5}]


def test_create_human_output(cli: Cli) -> None:
    cli("bucket", "create", "readings")
    r = cli("device", "create", "d2", "--bucket", "readings", "--timeout", "3", "--with-token")
    assert r.exit_code == 0, r.stderr
    assert "bucket 'readings' created" not in r.stderr  # it existed already
    lines = dict(
        line.split(None, 1) for line in r.stdout.splitlines() if line and not line.startswith(("curl", "The"))
    )
    assert lines["write_bucket"] == "readings" and lines["timeout"] == "3 min" and lines["token_id"]
    curl = [line for line in r.stdout.splitlines() if line.startswith("curl ")]
    assert len(curl) == 1 and lines["token"] in curl[0]
    assert "shown only this once" in r.stdout


def test_create_with_endpoint_and_existing_bucket(cli: Cli) -> None:
    cli("endpoint", "create", "hook", "--url", "http://127.0.0.1:9/x")
    cli("bucket", "create", "b1")
    r = cli("--json", "device", "create", "d3", "--endpoint", "hook", "--bucket", "b1")
    assert r.exit_code == 0, r.stderr
    data = r.json()["data"]
    assert data["bucket"] == {"bucket": "b1", "created": False}
    assert data["callback"]["actions"] == {"write_bucket": "b1", "call_endpoint": "hook"}
    assert data["token"] is None


def test_create_missing_endpoint_creates_nothing(cli: Cli) -> None:
    r = cli("device", "create", "d4", "--endpoint", "nope", "--bucket", "fresh")
    assert r.exit_code == 4
    assert "endpoint 'nope' does not exist" in r.stderr and "iotcli endpoint create nope" in r.stderr
    assert cli("--json", "device", "list").json()["data"] == []
    assert cli("--json", "bucket", "list").json()["data"] == []


def test_create_failure_rolls_back_the_bucket_it_made(cli: Cli) -> None:
    assert cli("device", "create", "dup").exit_code == 0
    r = cli("device", "create", "dup", "--bucket", "newbucket")
    assert r.exit_code == 4 and "already exists" in r.stderr
    assert "bucket 'newbucket' removed again" in r.stderr
    assert cli("bucket", "show", "newbucket").exit_code == 4


def test_create_usage_errors(cli: Cli) -> None:
    r = cli("device", "create", "bad id!")
    assert r.exit_code == 2 and "device id 'bad id!' is not valid" in r.stderr
    r = cli("device", "create", "v1", "--type", "Virtual", "--bucket", "b")
    assert r.exit_code == 2 and "only apply to HTTP devices" in r.stderr
    r = cli("--json", "device", "create", "d5", "--property", "no good")
    assert r.exit_code == 2 and r.json()["error"]["code"] == "usage"
    assert cli("device", "create", "d6", "--timeout", "-1").exit_code == 2
    assert cli("--json", "device", "list").json()["data"] == []


def test_create_other_types(cli: Cli) -> None:
    r = cli("--json", "device", "create", "g1", "--type", "Generic", "--credentials", "s3cr3t-creds")
    assert r.exit_code == 0, r.stderr
    data = r.json()["data"]
    assert data["device"]["type"] == "Generic" and data["callback_url"] is None and data["curl"] is None
    r = cli("device", "create", "g2", "--type", "MQTT")  # credentials required by the server
    assert r.exit_code == 4 and "credentials" in r.stderr


def test_list(cli: Cli) -> None:
    cli("device", "create", "a1", "--name", "First")
    cli("device", "create", "b2", "--type", "Virtual")
    r = cli("device", "list")
    assert r.exit_code == 0
    header, *rows = r.stdout.splitlines()
    assert header.split("\t") == ["DEVICE", "NAME", "TYPE", "ENABLED", "CONNECTED", "SINCE"]
    assert [row.split("\t")[:5] for row in rows] == [
        ["a1", "First", "HTTP", "yes", "no"],
        ["b2", "-", "Virtual", "yes", "no"],  # empty and null look the same
    ]
    data = cli("--json", "device", "list").json()["data"]
    assert [d["device"] for d in data] == ["a1", "b2"]
    assert data[0]["connection"] == {"active": False, "ts": data[0]["connection"]["ts"]}
    assert [d["device"] for d in cli("--json", "device", "list", "--type", "Virtual").json()["data"]] == [
        "b2"
    ]
    assert [
        d["device"] for d in cli("--json", "device", "list", "--count", "1", "--index", "1").json()["data"]
    ] == ["b2"]


def test_show(cli: Cli) -> None:
    cli("device", "create", "s1", "--description", "desk")
    r = cli("device", "show", "s1")
    assert r.exit_code == 0
    fields = dict(line.split(None, 1) for line in r.stdout.splitlines() if len(line.split(None, 1)) == 2)
    assert fields["device"] == "s1" and fields["description"] == "desk"
    assert fields["created"].endswith("Z") and "T" in fields["created"]  # readable time for people
    raw = cli("--json", "device", "show", "s1").json()["data"]
    assert isinstance(raw["created"], int)  # epoch ms for scripts
    r = cli("device", "show", "ghost")
    assert r.exit_code == 4 and r.stderr.startswith("error:") and "ghost" in r.stderr
    assert cli("--json", "device", "show", "ghost").json()["error"]["status"] == 404


def test_update_is_partial(cli: Cli) -> None:
    cli("device", "create", "u1", "--name", "Old", "--description", "keep me")
    r = cli("device", "update", "u1", "--name", "New", "--disable", "--asset-type", "meter")
    assert r.exit_code == 0, r.stderr
    assert "device 'u1' updated" in r.stderr
    dev = cli("--json", "device", "show", "u1").json()["data"]
    assert dev["name"] == "New" and dev["enabled"] is False and dev["description"] == "keep me"
    assert dev["asset_type"] == "meter"
    r = cli("--json", "device", "update", "u1", "--enable", "--asset-type", "")
    assert r.exit_code == 0
    data = r.json()["data"]
    assert data["enabled"] is True and data["asset_type"] in (None, "") and data["name"] == "New"
    r = cli("device", "update", "u1")
    assert r.exit_code == 2 and "nothing to update" in r.stderr
    assert cli("device", "update", "ghost", "--name", "x").exit_code == 4


def test_delete(cli: Cli) -> None:
    cli("device", "create", "x1", "--bucket", "keep", "--with-token")
    cli("property", "set", "x1", "p", "1")
    r = cli("device", "delete", "x1", "--yes")
    assert r.exit_code == 0 and "device 'x1' deleted" in r.stderr
    assert cli("device", "show", "x1").exit_code == 4
    assert cli("bucket", "show", "keep").exit_code == 0  # buckets stay
    cli("device", "create", "x2")
    r = cli("--json", "device", "delete", "x2")  # no terminal, no --yes: refused
    assert r.exit_code == 2 and "no terminal" in r.json()["error"]["message"]
    r = cli("--json", "device", "delete", "x2", "--yes")
    assert r.exit_code == 0 and r.json() == {"data": {"device": "x2", "deleted": True}}
    assert cli("device", "delete", "x2", "--yes").exit_code == 4


def test_stats(cli: Cli, emulator: InProcessEmulator) -> None:
    created = cli("--json", "device", "create", "st1", "--timeout", "1", "--with-token").json()["data"]
    stats = cli("--json", "device", "stats", "st1").json()["data"]
    assert stats["connected"] is False
    ingest(emulator, "st1", created["token"]["token"], {"v": 1})
    stats = cli("--json", "device", "stats", "st1").json()["data"]
    assert stats["connected"] is True and stats["rx_bytes"] > 0 and isinstance(stats["connected_ts"], int)
    r = cli("device", "stats", "st1")
    assert r.exit_code == 0
    fields = dict(line.split(None, 1) for line in r.stdout.splitlines())
    assert fields["connected"] == "yes" and fields["connected_ts"].endswith("Z")
    emulator.advance(61)
    assert cli("--json", "device", "stats", "st1").json()["data"]["connected"] is False
    assert cli("device", "stats", "ghost").exit_code == 4
