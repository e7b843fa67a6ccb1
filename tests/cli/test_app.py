"""The command tree is built per command (``app_for``): the same commands and help as the whole tree."""

from __future__ import annotations

import pytest
import typer.main
from typer.testing import CliRunner

from iotcli.cli import app as app_module
from iotcli.cli.app import COMMANDS, app_for, build_app, command_name


def top_level(app: typer.Typer) -> list[str]:
    return list(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_commands_lists_every_top_level_command() -> None:
    assert sorted(top_level(build_app())) == sorted(COMMANDS)
    assert top_level(app_module.app) == top_level(build_app())  # the module's ``app`` is the whole tree


@pytest.mark.parametrize("name", list(COMMANDS))
def test_one_commands_tree_has_it_whole_with_the_same_help(name: str) -> None:
    lazy, full = build_app(name), build_app()
    assert name in top_level(lazy) and len(top_level(lazy)) <= 3  # resources registers three groups
    lazy_group = typer.main.get_command(lazy).commands[name]  # type: ignore[attr-defined]
    full_group = typer.main.get_command(full).commands[name]  # type: ignore[attr-defined]
    assert sorted(getattr(lazy_group, "commands", {})) == sorted(getattr(full_group, "commands", {}))
    runner = CliRunner()
    a = runner.invoke(lazy, [name, "--help"], terminal_width=120)
    b = runner.invoke(full, [name, "--help"], terminal_width=120)
    assert a.exit_code == b.exit_code == 0
    assert a.stdout == b.stdout


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["device", "list"], "device"),
        (["--json", "-vv", "--server", "http://x", "--token", "-t0k", "bucket", "read", "b"], "bucket"),
        (["-p", "prod", "--user", "u", "events", "--follow"], "events"),
        (["--profile=prod", "connection", "list"], "connection"),
        (["--help", "device"], None),
        (["--version"], None),
        ([], None),
        (["--json"], None),
    ],
)
def test_command_name_skips_the_root_options(argv: list[str], name: str | None) -> None:
    assert command_name(argv) == name


def test_root_help_unknown_names_and_completion_get_the_whole_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    everything = top_level(build_app())
    assert sorted(top_level(app_for(["--help"]))) == sorted(everything)  # placeholders with summaries
    assert top_level(app_for(["devices", "list"])) == everything  # click then suggests 'device'
    assert top_level(app_for(["device", "list"])) == ["device"]
    monkeypatch.setenv("_IOTCLI_COMPLETE", "complete_bash")
    assert top_level(app_for(["device", "list"])) == everything


def test_an_unknown_command_is_a_usage_error_naming_it() -> None:
    from tests.harness import run_cli

    r = run_cli(["devices", "list"])
    assert r.exit_code == 2 and "devices" in r.stderr


def test_root_help_summaries_are_the_commands_own() -> None:
    """`iotcli --help` lists each command from SUMMARIES without importing it: the same first paragraph."""
    from iotcli.cli.app import SUMMARIES

    full = typer.main.get_command(build_app())
    assert set(SUMMARIES) == set(COMMANDS)
    for name, summary in SUMMARIES.items():
        first = (full.commands[name].help or "").split("\n\n")[0].lstrip("\b").strip()  # type: ignore[attr-defined]
        assert " ".join(first.split()).startswith(summary), f"update SUMMARIES['{name}'] in iotcli/cli/app.py"


def test_root_help_imports_no_command_module() -> None:
    import subprocess
    import sys

    probe = (
        "import sys\nsys.argv = ['iotcli', '--help']\nfrom iotcli.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('iotcli.cli.') and m != 'iotcli.cli.app'"
        " and m not in ('iotcli.cli.errors', 'iotcli.cli.options', 'iotcli.cli.output', 'iotcli.cli.state',"
        " 'iotcli.cli.tree')), 'rich' in sys.modules, 'httpx' in sys.modules, file=sys.stderr)"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "Commands:" in r.stdout and "send-uplink" in r.stdout
    assert r.stderr.strip().endswith("[] False False"), r.stderr


@pytest.mark.parametrize("module", sorted({"app", *COMMANDS.values()}))
def test_command_modules_have_no_string_annotations(module: str) -> None:
    """typer evaluates each string annotation with compile() at every start (see iotcli/cli/app.py)."""
    import importlib
    import inspect

    source = inspect.getsource(importlib.import_module(f"iotcli.cli.{module}"))
    assert "\nfrom __future__ import annotations" not in source
