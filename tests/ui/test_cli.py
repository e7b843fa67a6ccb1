"""`iotcli emulate` names the inspector in its banner; `iotcli emulator open` opens it."""

from __future__ import annotations

import webbrowser

import pytest

from tests.conftest import Cli
from tests.harness import EmulatorProcess, run_cli


def test_open_starts_the_browser_on_the_inspector(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", lambda url: opened.append(url) or True)
    result = cli("emulator", "open")
    assert result.exit_code == 0, result.stderr
    assert opened == ["http://testserver/_emulator/ui/"]
    assert result.stdout.strip() == "http://testserver/_emulator/ui/"


def test_open_no_browser_only_prints_and_json(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webbrowser, "open", lambda url: pytest.fail("a browser was started"))
    result = cli("emulator", "open", "--no-browser", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json() == {"data": {"url": "http://testserver/_emulator/ui/", "opened": False}}


def test_open_without_an_emulator_is_a_network_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webbrowser, "open", lambda url: pytest.fail("a browser was started"))
    result = run_cli(["emulator", "open", "--server", "http://127.0.0.1:9"], env={"IOTCLI_TOKEN": "x"})
    assert result.exit_code == 6
    assert "127.0.0.1:9" in result.stderr or "connect" in result.stderr.lower()


def test_the_banner_names_the_inspector() -> None:
    proc = EmulatorProcess(None).start()
    proc.stop()
    out, _err = proc.output()
    assert f"inspector: {proc.url}/_emulator/ui/" in out
