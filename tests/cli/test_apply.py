"""``iotcli apply`` / ``iotcli export``: one environment file, checked first, applied idempotently."""

from __future__ import annotations

from pathlib import Path

import pytest

from iotcli.provision import locate, parse_env
from tests.conftest import Cli
from tests.harness import InProcessEmulator

ENV = """\
version = 1

[sinks.app]
respond = [503, 200]

[buckets.readings]
name = "Readings"
config = { source = "write" }

[endpoints.notify]
name = "Notify"
config = { url = "sink:app/notify", headers = [{ key = "X-Key", value = "${NOTIFY_KEY}" }] }

[devices.sensor-1]
name = "Sensor 1"
tokens = ["ci"]
properties = { command = { led = true } }

[devices.sensor-1.callback]
actions = { write_bucket = "readings", call_endpoint = "notify", send_property = "command" }
properties = { timeout = 5 }

[connections.my-app]
configuration = { destinationURL = "sink:app", strictMode = true, headers = { X-Thing = "{DevEUI}" } }
"""


def write(tmp_path: Path, text: str, name: str = "env.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_apply_creates_everything_then_changes_nothing(
    cli: Cli, emulator: InProcessEmulator, tmp_path: Path
) -> None:
    path = write(tmp_path, ENV)
    env = {"NOTIFY_KEY": "s3cr3t"}
    dry = cli("--json", "apply", "-f", path, "--dry-run", env=env)
    assert dry.exit_code == 0, dry.stderr
    assert dry.json()["data"]["summary"] == {"create": 8, "update": 0, "delete": 0, "unchanged": 0}
    assert emulator.http.get("/_emulator/sinks").json() == []  # a dry run changes nothing

    first = cli("apply", "-f", path, env=env)
    assert first.exit_code == 0, first.stderr
    assert "create    device sensor-1" in first.stderr and "8 created" in first.stderr
    assert "device token sensor-1/ci: " in first.stderr  # the secret, shown once

    sink_url = emulator.http.get("/_emulator/sinks/app").json()["url"]
    endpoint = emulator.http.get("/v1/users/local/endpoints/notify").json()
    assert endpoint["config"]["url"] == sink_url + "/notify"
    assert endpoint["config"]["headers"] == [{"key": "X-Key", "value": "s3cr3t"}]
    callback = emulator.http.get("/v3/users/local/devices/sensor-1/callback").json()
    assert callback["actions"]["write_bucket"] == "readings" and callback["properties"]["timeout"] == 5
    prop = emulator.http.get("/v3/users/local/devices/sensor-1/properties/command").json()
    assert prop["value"] == {"led": True}
    (conn,) = emulator.http.get("/iot-flow/v1/connections").json()
    assert conn["name"] == "my-app" and conn["configuration"]["destinationURL"] == sink_url
    assert [t["name"] for t in emulator.http.get("/v1/users/local/devices/sensor-1/tokens").json()] == ["ci"]

    second = cli("--json", "apply", "-f", path, env=env)
    assert second.exit_code == 0
    data = second.json()["data"]
    assert data["changed"] is False and data["summary"]["unchanged"] == 8 and data["tokens"] == {}
    third = cli("apply", "-f", path, env=env)
    assert "nothing to change" in third.stderr


def test_apply_updates_only_what_changed_and_prunes(
    cli: Cli, emulator: InProcessEmulator, tmp_path: Path
) -> None:
    env = {"NOTIFY_KEY": "k"}
    assert cli("apply", "-f", write(tmp_path, ENV), env=env).exit_code == 0
    emulator.http.post(
        "/v1/users/local/buckets",
        json={"bucket": "extra", "name": "x", "enabled": True, "config": {"source": "write"}},
    )
    changed = ENV.replace('name = "Readings"', 'name = "All readings"').replace(
        "respond = [503, 200]", "respond = [500]"
    )
    r = cli("--json", "apply", "-f", write(tmp_path, changed, "v2.toml"), env=env)
    changes = {(c["kind"], c["id"]): c for c in r.json()["data"]["changes"]}
    assert changes[("bucket", "readings")]["action"] == "update" and changes[("bucket", "readings")][
        "fields"
    ] == ["name"]
    assert changes[("sink", "app")]["action"] == "update"
    assert changes[("device", "sensor-1")]["action"] == "unchanged"
    assert ("bucket", "extra") not in changes  # without --prune nothing is deleted
    assert emulator.http.get("/v1/users/local/buckets/readings").json()["name"] == "All readings"
    assert emulator.http.get("/_emulator/sinks/app").json()["respond"] == [500]

    r = cli("--json", "apply", "-f", write(tmp_path, changed, "v2.toml"), "--prune", env=env)
    deleted = [(c["kind"], c["id"]) for c in r.json()["data"]["changes"] if c["action"] == "delete"]
    assert deleted == [("bucket", "extra")]
    assert emulator.http.get("/v1/users/local/buckets/extra").status_code == 404


def test_export_round_trips(cli: Cli, emulator: InProcessEmulator, tmp_path: Path) -> None:
    assert cli("apply", "-f", write(tmp_path, ENV), env={"NOTIFY_KEY": "k"}).exit_code == 0
    r = cli("export")
    assert r.exit_code == 0, r.stderr
    text = r.stdout
    assert 'url = "sink:app/notify"' in text and 'destinationURL = "sink:app"' in text
    assert "${IOTCLI_ENDPOINT_NOTIFY_X_KEY}" in text and '"k"' not in text  # a secret header is a reference
    out = tmp_path / "exported.toml"
    assert cli("export", "--file", str(out)).exit_code == 0 and out.read_text() == text
    again = cli("--json", "apply", "-f", str(out), env={"IOTCLI_ENDPOINT_NOTIFY_X_KEY": "k"})
    assert again.exit_code == 0, again.stderr
    assert again.json()["data"]["changed"] is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[devices.d1]\nname = 1\n", "env.toml:2: devices.d1.name: must be a string"),
        ("[devices.d1]\ncolour = 'red'\n", "env.toml:2: devices.d1.colour: unknown key"),
        ("[gadgets.g]\n", "env.toml:1: gadgets: unknown section"),
        ("[devices.'bad id!']\n", "devices.bad id!: the id must be 1-32"),
        ("[devices.d1]\ntype = 'Toaster'\n", "env.toml:2: devices.d1.type: must be one of HTTP"),
        ("[sinks.s]\nrespond = [503, 9000]\n", "env.toml:2: sinks.s.respond: '9000' is not an answer"),
        ("[endpoints.e]\nconfig = { method = 'POST' }\n", "endpoints.e.config.url: required"),
        ("[connections.c]\nconfiguration = {}\n", "connections.c.configuration.destinationURL: required"),
        (
            "[buckets.b]\nname = '${NOT_SET_ANYWHERE}'\n",
            "env.toml:2: buckets.b.name: environment variable NOT_SET",
        ),
        ("[devices.d1\nname = 'x'\n", "not valid TOML"),
        (
            "[devices.d1.callback]\nactions = { write_bucket = 'nope' }\n",
            "devices.d1.callback.actions.write_bucket: bucket 'nope' is neither in the file nor on the server",
        ),
        ("[connections.c]\nconfiguration = { destinationURL = 'sink:gone' }\n", "sink 'gone' is neither"),
    ],
)
def test_invalid_files_exit_2_naming_file_line_key_and_change_nothing(
    cli: Cli, emulator: InProcessEmulator, tmp_path: Path, text: str, message: str
) -> None:
    # A valid section first: nothing of it may be applied when a later one is wrong.
    path = write(
        tmp_path,
        "[buckets.good]\nname = 'Good'\n" + text
        if text.startswith("[devices.d1.callback]") or "sink:gone" in text
        else text,
    )
    r = cli("apply", "-f", path)
    assert r.exit_code == 2, (r.exit_code, r.stderr)
    assert message in r.stderr, r.stderr
    assert emulator.http.get("/v1/users/local/buckets").json() == []
    assert emulator.http.get("/v1/users/local/devices").json() == []


def test_missing_file_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    r = cli("apply", "-f", str(tmp_path / "nope.toml"))
    assert r.exit_code == 2 and "cannot read" in r.stderr


def test_env_defaults_and_locate() -> None:
    env = parse_env("[buckets.b]\nname = '${B_NAME:-fallback}'\n", "x.toml", environ={})
    assert env.names("buckets")["b"]["name"] == "fallback"
    text = "[devices.d]\nname = 'x'\n\n[devices.d.callback]\nactions = { write_bucket = 'b' }\n"
    assert locate(text, "devices.d.name") == 2
    assert locate(text, "devices.d.callback.actions.write_bucket") == 5
    assert locate(text, "devices.d.type") == 1  # not written: its table
