"""The iotcli command tree: this module only assembles it.

Each group lives in its own module with a ``register(app)`` function; the root callback resolves
the global options; ``IotcliGroup`` is the one error boundary.
"""

from __future__ import annotations

import typer

from iotcli import __version__
from iotcli.cli import (
    config_cmd,
    connection,
    deliveries,
    device,
    downlink,
    emulate,
    emulator_cmd,
    events,
    login,
    resources,
    send,
)
from iotcli.cli.errors import IotcliGroup
from iotcli.cli.options import JsonOpt, ProfileOpt, ServerOpt, TokenOpt, UserOpt, VerboseOpt
from iotcli.cli.output import Output
from iotcli.cli.state import CliState, GlobalOptions

app = typer.Typer(
    name="iotcli",
    cls=IotcliGroup,
    help=(
        "Manage HTTP devices and HTTP connections, send test uplinks, and run a local emulator "
        "of both platforms.\n\n"
        "Start here:  iotcli emulate   (in one terminal), then in another:  iotcli device create sensor-1 "
        "--bucket readings --with-token"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"iotcli {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    profile: ProfileOpt = None,
    server: ServerOpt = None,
    user: UserOpt = None,
    token: TokenOpt = None,
    json: JsonOpt = False,
    verbose: VerboseOpt = 0,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Global options apply to every command; each also comes from env IOTCLI_* and the profile."""
    opts = GlobalOptions(profile=profile, server=server, user=user, token=token, json=json, verbose=verbose)
    ctx.obj = CliState(opts, Output(json_mode=json, verbose=verbose))


for module in (
    config_cmd,
    login,
    emulate,
    emulator_cmd,
    device,
    resources,
    connection,
    send,
    downlink,
    deliveries,
    events,
):
    module.register(app)
