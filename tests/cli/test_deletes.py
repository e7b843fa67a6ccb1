"""Every delete asks on a terminal, takes --yes, and refuses without a terminal (issue 17, item 6)."""

from __future__ import annotations

import pytest

from iotcli.cli import prompt
from tests.conftest import Cli


def make_all(cli: Cli) -> str:
    assert cli("device", "create", "d1", "--bucket", "b1").exit_code == 0
    assert cli("endpoint", "create", "e1", "--url", "http://127.0.0.1:9/x").exit_code == 0
    assert cli("property", "set", "d1", "p1", "1").exit_code == 0
    token = cli("--json", "device", "token", "create", "d1").json()["data"]["id"]
    r = cli("--json", "connection", "create", "app", "--destination", "http://127.0.0.1:9/up")
    assert r.exit_code == 0, r.stderr
    return f"{token} {r.json()['data']['id']}"


def deletes(ids: str) -> list[list[str]]:
    token, conn = ids.split()
    return [
        ["property", "delete", "d1", "p1"],
        ["device", "token", "revoke", "d1", token],
        ["connection", "delete", conn],
        ["endpoint", "delete", "e1"],
        ["device", "delete", "d1"],
        ["bucket", "delete", "b1", "--records-only"],
        ["bucket", "delete", "b1"],
        ["emulator", "reset"],
    ]


def test_without_a_terminal_and_without_yes_every_delete_refuses(cli: Cli) -> None:
    for args in deletes(make_all(cli)):
        r = cli(*args)
        assert r.exit_code == 2, (args, r.stderr)
        assert "refusing to delete" in r.stderr and "no terminal to ask on" in r.stderr, args
        assert "hint: pass --yes" in r.stderr
    assert cli("device", "show", "d1").exit_code == 0  # nothing was deleted


def test_answering_n_keeps_it_and_is_not_an_interrupt(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prompt, "stdin_is_terminal", lambda: True)
    for args in deletes(make_all(cli)):
        r = cli(*args, input="n\n")
        assert r.exit_code == 0, (args, r.stderr)
        assert "[y/N]" in r.stderr and "nothing deleted" in r.stderr, args
        assert r.stdout.strip() in ("", "n")  # (CliRunner echoes the typed answer to stdout)
    assert cli("connection", "list", "--json").json()["data"]  # still there
    assert cli("device", "show", "d1").exit_code == 0


def test_answering_y_deletes(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prompt, "stdin_is_terminal", lambda: True)
    ids = make_all(cli)
    conn = ids.split()[1]
    r = cli("connection", "delete", conn, "--json", input="y\n")
    assert r.exit_code == 0, r.stderr
    assert "[y/N]" in r.stderr
    assert r.stdout.strip().startswith("y")  # (CliRunner echoes the typed answer to stdout)
    assert '"deleted": true' in r.stdout  # the question went to stderr: stdout is only JSON
    assert cli("connection", "show", conn).exit_code == 4


def test_every_delete_takes_yes(cli: Cli) -> None:
    for args in deletes(make_all(cli)):
        r = cli(*args, "--yes")
        assert r.exit_code == 0, (args, r.stderr)
