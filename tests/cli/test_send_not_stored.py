"""send-uplink says plainly when the platform stored nothing and why (issue 17, item 2): the emulator's
X-Iotcli-Not-Stored answer header, in the single-send output, the --repeat summary and --json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.harness import Reply, Sink, run_cli


def device(cli: Cli) -> None:
    r = cli("device", "create", "sensor-1", "--bucket", "readings", "--property", "last")
    assert r.exit_code == 0, r.stderr


@pytest.mark.parametrize("data", ["[1,2]", '{"a": NaN}'])
def test_a_body_that_stores_nothing_is_said_plainly(cli: Cli, data: str) -> None:
    device(cli)
    r = cli("send-uplink", "--device", "sensor-1", "--data", data)
    assert r.exit_code == 0, r.stderr  # the platform answered 200, as the real one does
    assert "warning: the platform stored nothing: " in r.stderr
    assert cli("bucket", "read", "readings", "--json").json()["data"] == []


@pytest.mark.parametrize("text", ["temp=21", ""])
def test_a_non_json_or_empty_file_stores_nothing(cli: Cli, tmp_path: Path, text: str) -> None:
    device(cli)
    f = tmp_path / "reading.txt"
    f.write_text(text)
    r = cli("send-uplink", "--device", "sensor-1", "--file", str(f), "--json")
    assert r.exit_code == 0, r.stderr
    data = r.json()["data"]
    assert data["status"] == 200 and isinstance(data["not_stored"], str) and data["not_stored"]


def test_a_stored_uplink_says_nothing_of_the_kind(cli: Cli) -> None:
    device(cli)
    r = cli("send-uplink", "--device", "sensor-1", "temp:=21.5", "--json")
    assert r.exit_code == 0 and r.json()["data"]["not_stored"] is None
    r = cli("send-uplink", "--device", "sensor-1", "temp:=21.5")
    assert "stored nothing" not in r.stderr


def test_repeat_counts_what_was_not_stored(cli: Cli) -> None:
    device(cli)
    r = cli("send-uplink", "--device", "sensor-1", "--data", "[{{i}}]", "--repeat", "3")
    assert r.exit_code == 0, r.stderr
    assert "not stored 3" in r.stdout
    assert "warning: 3 of 3 ok uplinks stored nothing: 3x " in r.stderr
    r = cli("send-uplink", "--device", "sensor-1", "--data", "[{{i}}]", "--repeat", "2", "--json")
    data = r.json()["data"]
    assert data["not_stored"] == 2 and sum(data["not_stored_by_reason"].values()) == 2


def test_the_header_from_any_server_is_reported(sink: Sink) -> None:
    """A sink answering with the header (as the emulator does) is reported the same way."""
    sink.default = Reply(200, headers={"X-Iotcli-Not-Stored": "the body is not JSON"})
    r = run_cli(["send-uplink", "--url", sink.url, "a=1", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["data"]["not_stored"] == "the body is not JSON"
