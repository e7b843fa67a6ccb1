"""Global options (--profile --server --user --token --json -v) go before or after the command,
typed the way the docs and the help texts show them (issue 17, item 1)."""

from __future__ import annotations

import json

import typer.main

from iotcli.cli.app import build_app
from tests.conftest import Cli
from tests.harness import run_cli


def test_bucket_read_v2_json_after_the_command(cli: Cli) -> None:
    """http-devices.md: `iotcli bucket read readings --v2 --json`; `bucket read --help`: `--sort asc --json`."""
    assert cli("bucket", "create", "readings").exit_code == 0
    assert cli("bucket", "write", "readings", "--data", '{"t": 1}', "--ts", "1000").exit_code == 0
    assert cli("bucket", "write", "readings", "--data", '{"t": 2}', "--ts", "2000").exit_code == 0
    r = cli("bucket", "read", "readings", "--v2", "--json")
    assert r.exit_code == 0, r.stderr
    assert [rec["t"] for rec in r.json()["data"]] == [2, 1]
    r = cli("bucket", "read", "readings", "--sort", "asc", "--json")
    assert r.exit_code == 0, r.stderr
    assert [rec["val"]["t"] for rec in r.json()["data"]] == [1, 2]


def test_device_show_json_and_deliveries_show_v(cli: Cli) -> None:
    assert cli("device", "create", "sensor-1").exit_code == 0
    r = cli("device", "show", "sensor-1", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["data"]["device"] == "sensor-1"
    r = cli("deliveries", "show", "999", "-v")
    assert r.exit_code == 4 and "Possible options" not in r.stderr and "No such option" not in r.stderr


def test_events_json_after_the_command(cli: Cli) -> None:
    assert cli("device", "create", "sensor-1").exit_code == 0
    r = cli("events", "--json")
    assert r.exit_code == 0, r.stderr
    assert isinstance(r.json()["data"], list)


def test_config_set_with_profile_after_the_command(cli: Cli) -> None:
    """The hint `iotcli config set KEY VALUE --profile default` works as printed."""
    r = cli("config", "set", "user", "acme", "--profile", "cloud")
    assert r.exit_code == 0, r.stderr
    r = cli("config", "show", "--json", "--profile", "cloud")
    assert r.exit_code == 0, r.stderr
    assert r.json()["data"]["profile"] == "cloud" and r.json()["data"]["user"] == "acme"


def test_server_user_token_after_the_command_win_over_env(cli: Cli) -> None:
    r = cli(
        "config",
        "show",
        "--json",
        "--server",
        "http://127.0.0.1:9",
        "-u",
        "bob",
        "--token",
        "-t0k-abcdefghijkl",
    )
    data = r.json()["data"]
    assert (data["server"], data["user"], data["server_source"]) == ("http://127.0.0.1:9", "bob", "flag/env")


def test_a_group_level_option_and_the_later_one_wins(cli: Cli) -> None:
    r = cli("--user", "first", "config", "--json", "show", "--user", "second")
    assert r.exit_code == 0, r.stderr
    assert r.json()["data"]["user"] == "second"


def test_option_values_that_look_like_options_stay_values(cli: Cli) -> None:
    r = cli("device", "create", "sensor-1", "--name", "--json")
    assert r.exit_code == 0, r.stderr
    r = cli("device", "show", "sensor-1", "--json")
    assert r.json()["data"]["name"] == "--json"


def test_after_a_double_dash_nothing_is_an_option(cli: Cli) -> None:
    r = cli("device", "show", "--json", "--", "--json")
    assert r.exit_code == 4  # '--json' is the device id (a valid one): no such device
    assert "/devices/--json" in json.loads(r.stdout)["error"]["message"]


def test_commands_keep_their_own_options_of_the_same_name() -> None:
    """`emulate --user/--token` are the emulator's account, `send-uplink --token/--json/-v` its own."""
    root = typer.main.get_command(build_app())
    emulate = root.commands["emulate"]  # type: ignore[attr-defined]
    send = root.commands["send-uplink"]  # type: ignore[attr-defined]
    by_opt = {o: p.name for p in emulate.params for o in p.opts}
    assert by_opt["--user"] == "user" and by_opt["--token"] == "token"
    assert by_opt["--json"] == "global_json" and by_opt["--server"] == "global_server"
    by_opt = {o: p.name for p in send.params for o in p.opts}
    assert by_opt["--token"] == "token" and by_opt["--json"] == "json_out" and by_opt["-v"] == "verbose"
    assert by_opt["--profile"] == "global_profile"


def test_a_typo_is_refused_and_the_suggestion_is_an_option_that_works(cli: Cli) -> None:
    r = run_cli(["device", "list", "--jsn"])
    assert r.exit_code == 2 and "No such option: --jsn" in r.stderr
    assert "Possible options: --json" in r.stderr
    assert cli("device", "list", "--json").exit_code == 0


def test_help_shows_no_bool_or_int_for_flags_and_counts() -> None:
    for args in (["--help"], ["device", "delete", "--help"], ["bucket", "read", "--help"]):
        r = run_cli(args)
        assert r.exit_code == 0
        assert "<bool>" not in r.stdout and "<int>" not in r.stdout, args
    assert "global options (--profile --server --user --token --json -v) go here too" in " ".join(
        run_cli(["device", "list", "--help"]).stdout.split()
    )
