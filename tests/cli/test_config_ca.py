"""``config show`` lists the CA file in effect and where it comes from (issue 17)."""

from __future__ import annotations

from pathlib import Path

from tests.harness import run_cli


def test_config_show_lists_ca_file_and_its_source(tmp_path: Path) -> None:
    data = run_cli(["config", "show", "--json"]).json()["data"]
    assert data["ca_file"] is None and data["ca_source"] is None
    assert "ca_file" in run_cli(["config", "show"]).stdout

    pem = tmp_path / "corp-ca.pem"
    assert run_cli(["config", "set", "ca_file", str(pem)]).exit_code == 0
    data = run_cli(["config", "show", "--json"]).json()["data"]
    assert data["ca_file"] == str(pem) and data["ca_source"] == "profile default"

    other = tmp_path / "other.pem"
    for argv in (
        ["--ca-file", str(other), "config", "show", "--json"],
        ["config", "show", "--ca-file", str(other), "--json"],
    ):
        data = run_cli(argv).json()["data"]
        assert data["ca_file"] == str(other) and data["ca_source"] == "flag/env"
    data = run_cli(["config", "show", "--json"], env={"IOTCLI_CA_FILE": str(other)}).json()["data"]
    assert data["ca_file"] == str(other) and data["ca_source"] == "flag/env"


def test_every_commands_help_says_that_ca_file_goes_there_too() -> None:
    for args in (
        ["device", "list", "--help"],
        ["bucket", "read", "--help"],
        ["connection", "create", "--help"],
    ):
        text = " ".join(run_cli(args).stdout.split())
        assert "--ca-file; see: iotcli --help" in text, args
    r = run_cli(["device", "list", "--ca-file", "/nonexistent/ca.pem", "--server", "https://127.0.0.1:1"])
    assert r.exit_code == 3 and "/nonexistent/ca.pem" in r.stderr  # accepted after the command, and used
