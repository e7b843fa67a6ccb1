"""Options declared once (issue 12 step 3): a bundle dataclass is every parser's source of its options."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import pytest
import typer
import typer.main

from iotcli.cli.app import build_app
from iotcli.cli.bundles import takes
from iotcli.cli.connection_flags import ConnectionFlags
from iotcli.cli.device_callback import CallbackFlags
from iotcli.cli.send_options import SendOptions


def _params(*path: str) -> list[str]:
    command = typer.main.get_command(build_app(path[0]))
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return [
        p.name for p in command.params if p.name and not p.name.startswith("global_") and p.name != "help"
    ]


def _fields(bundle: type, skip: tuple[str, ...] = ()) -> list[str]:
    return [f.name for f in dataclasses.fields(bundle) if f.name not in skip]


def test_send_uplink_parses_exactly_the_send_options() -> None:
    assert _params("send-uplink") == _fields(SendOptions)


def test_connection_create_and_update_share_one_bundle() -> None:
    assert _params("connection", "create") == ["name", *_fields(ConnectionFlags, ConnectionFlags.UPDATE_ONLY)]
    assert _params("connection", "update") == ["connection_id", "name", *_fields(ConnectionFlags)]


def test_device_create_and_callback_set_share_the_callback_options() -> None:
    create = _params("device", "create")
    assert create[create.index("bucket") :][: len(_fields(CallbackFlags))] == _fields(CallbackFlags)
    assert _params("device", "callback", "set") == ["device", *_fields(CallbackFlags)]


@dataclasses.dataclass
class Pair:
    a: Annotated[int, typer.Option("--a")] = 1
    b: Annotated[str | None, typer.Option("--b")] = None


def test_the_command_gets_one_instance_with_what_was_typed() -> None:
    seen: list[object] = []
    app = typer.Typer()

    @app.command()
    @takes(skip=("b",), p=Pair)
    def cmd(name: str, p: Pair = Pair()) -> None:  # noqa: B008
        seen.append((name, p))

    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["x", "--a", "3"])
    assert r.exit_code == 0, r.output
    assert seen == [("x", Pair(a=3, b=None))]
    assert CliRunner().invoke(app, ["x", "--b", "y"]).exit_code == 2  # skipped: not an option there


def test_a_bundle_field_may_not_repeat_a_parameter() -> None:
    with pytest.raises(TypeError, match="repeats a parameter name"):

        @takes(p=Pair)
        def cmd(a: int = 0, p: Pair = Pair()) -> None:  # noqa: B008
            pass
