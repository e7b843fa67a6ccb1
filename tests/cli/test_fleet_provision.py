"""iotcli fleet provision / deprovision against the in-process emulator; bad input."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.conftest import Cli
from tests.harness import InProcessEmulator


def test_provision_is_idempotent_writes_tokens_0600_and_deprovision_removes(
    cli: Cli, emulator: InProcessEmulator, tmp_path: Path
) -> None:
    devices_file = tmp_path / "fleet.json"
    args = ["fleet", "provision", "--count", "5", "--prefix", "sim-", "--bucket", "fl", "--with-token"]
    r = cli(*args, "--devices-file", str(devices_file))
    assert r.exit_code == 0, r.stderr
    assert "5 devices created" in r.stderr
    assert stat.S_IMODE(devices_file.stat().st_mode) == 0o600
    data = json.loads(devices_file.read_text())
    devices = data["devices"]
    assert [d["device"] for d in devices] == [f"sim-000{i}" for i in range(1, 6)]
    tokens = [d["token"] for d in devices]
    assert all(tokens) and len(set(tokens)) == 5
    assert not any(t in r.stdout + r.stderr for t in tokens)  # never printed

    listed = cli("--json", "device", "list").json()["data"]
    assert sorted(d["device"] for d in listed) == [d["device"] for d in devices]
    callback = cli("--json", "device", "callback", "show", "sim-0003").json()["data"]
    assert callback["actions"]["write_bucket"] == "fl"
    # Each token works for its own device: the payload lands in the bucket.
    for d in devices[:2]:
        path = d["callback_url"].split("://", 1)[1].split("/", 1)[1]
        answer = emulator.anon(
            "POST", "/" + path, headers={"Authorization": f"Bearer {d['token']}"}, json={"t": 1}
        )
        assert answer.status_code == 200, answer.text

    again = cli("--json", *args, "--devices-file", str(devices_file))
    assert again.exit_code == 0, again.stderr
    assert again.json()["data"]["created"] == 0 and again.json()["data"]["tokens_created"] == 0
    assert json.loads(devices_file.read_text())["devices"] == devices  # same tokens kept
    r = cli(*args, "--devices-file", str(devices_file))
    assert "nothing created" in r.stderr

    # Growing the fleet creates only the new ones.
    more = cli(
        "--json",
        "fleet",
        "provision",
        "--count",
        "7",
        "--prefix",
        "sim-",
        "--devices-file",
        str(devices_file),
    )
    assert more.json()["data"]["created"] == 2

    cli("device", "create", "other")
    gone = cli(
        "--json", "fleet", "deprovision", "--prefix", "sim-", "--yes", "--devices-file", str(devices_file)
    )
    assert gone.exit_code == 0, gone.stderr
    assert gone.json()["data"] == {"prefix": "sim-", "deleted": 7}
    assert [d["device"] for d in cli("--json", "device", "list").json()["data"]] == ["other"]
    assert not devices_file.exists()
    r = cli("fleet", "deprovision", "--prefix", "sim-", "--yes", "--devices-file", str(devices_file))
    assert r.exit_code == 0 and "nothing deleted" in r.stderr


def test_bad_input_is_one_line_and_exit_2(cli: Cli, tmp_path: Path) -> None:
    devices_file = str(tmp_path / "f.json")
    for args, needle in (
        (["--count", "0"], "--count"),
        (["--count", "-3"], "--count"),
        (["--count", "2", "--prefix", "bad prefix!"], "prefix"),
        (["--count", "2", "--prefix", "x" * 30], "prefix"),
        (["--count", "2", "--bucket", "no/slash"], "bucket"),
    ):
        r = cli("fleet", "provision", *args, "--devices-file", devices_file)
        assert r.exit_code == 2, (args, r.stderr)
        assert needle in r.stderr and "Traceback" not in r.stderr
        assert r.stderr.startswith("error: ")
    assert cli("fleet", "deprovision", "--prefix", "a b").exit_code == 2
    # Without a terminal and without --yes nothing is deleted.
    cli("fleet", "provision", "--count", "1", "--devices-file", devices_file)
    r = cli("fleet", "deprovision", "--devices-file", devices_file)
    assert r.exit_code == 2 and "--yes" in r.stderr
    assert len(cli("--json", "device", "list").json()["data"]) == 1


def test_a_corrupt_devices_file_is_a_config_error(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "f.json"
    bad.write_text("not json")
    r = cli("fleet", "provision", "--count", "1", "--devices-file", str(bad))
    assert r.exit_code == 3 and "devices file" in r.stderr


def test_the_progress_bar_shows_on_a_terminal_only() -> None:
    import io

    from iotcli.cli.output import Output

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Tty()
    with Output(stderr=err).progress("provisioning", 3) as bar:
        for _ in range(3):
            bar.advance()
    assert "provisioning" in err.getvalue()
    piped = io.StringIO()
    with Output(stderr=piped).progress("provisioning", 3) as bar:
        bar.advance()
    with Output(json_mode=True, stderr=Tty()).progress("x", 1) as bar:
        bar.advance()
    assert piped.getvalue() == ""
