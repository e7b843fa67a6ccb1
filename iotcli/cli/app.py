"""The iotcli command tree: this module only assembles it.

Each group lives in its own module with a ``register(app)`` function; the root callback resolves
the global options; ``IotcliGroup`` is the one error boundary. How a command builds only its own
group of the tree (and ``iotcli --help`` none) is ``iotcli.cli.tree``'s business.

Command modules do not use ``from __future__ import annotations``: typer reads every parameter's
annotation at each start, and string annotations cost a ``compile()`` each (~25 ms for a group);
evaluated once at import they cost nothing more. ``tests/cli/test_app.py`` keeps it that way.
"""

from collections.abc import Sequence
from typing import Any

import typer

from iotcli import __version__
from iotcli.cli.errors import IotcliGroup
from iotcli.cli.options import CaFileOpt, JsonOpt, ProfileOpt, ServerOpt, TokenOpt, UserOpt, VerboseOpt
from iotcli.cli.output import Output
from iotcli.cli.state import CliState, GlobalOptions
from iotcli.cli.tree import ROOT_ONLY, command_name, populate, tree_for

__all__ = ["COMMANDS", "ROOT_ONLY", "SUMMARIES", "app_for", "build_app", "command_name"]

#: Each top-level command and the module (``iotcli.cli.<module>``) whose ``register(app)`` adds it
#: (modules register in this order). ``tests/cli/test_app.py`` checks that it lists them all.
COMMANDS: dict[str, str] = {
    "config": "config_cmd",
    "login": "login",
    "emulate": "emulate",
    "emulator": "emulator_cmd",
    "device": "device",
    "bucket": "bucket",
    "endpoint": "endpoint",
    "property": "property",
    "connection": "connection",
    "send-uplink": "send",
    "downlink": "downlink",
    "deliveries": "deliveries",
    "events": "events",
    "sink": "sink",
    "wait": "wait",
    "apply": "apply",
    "export": "apply",
    "fleet": "fleet",
    "check": "check",
}
#: What ``iotcli --help`` lists for each command, without importing the modules (a command's help is its
#: module's; ``tests/cli/test_app.py`` checks that these are the same first paragraphs).
SUMMARIES: dict[str, str] = {
    "config": "Show and edit profiles (config.toml).",
    "login": "Log in and store the token in the profile.",
    "emulate": "Run the local emulator: Thinger-style HTTP devices and IoT Flow-style HTTP connections on one port.",
    "emulator": "Inspect and steer a running emulator (status, reset, clock, open, stop).",
    "device": "HTTP devices: create one with a callback URL and token, list, update, stats.",
    "bucket": "Buckets: time series of JSON records written by devices (callbacks) or by you.",
    "endpoint": "Endpoints: HTTP requests the platform makes with device data ({{field}} placeholders).",
    "property": "Device properties: named JSON values kept by the platform for a device.",
    "connection": "HTTP connections (IoT Flow style): forward LoRaWAN uplinks to your application's URL.",
    "send-uplink": "Send a test uplink to an HTTP device, any URL, or as a LoRaWAN uplink; show the answer.",
    "downlink": "LoRaWAN downlinks (IoT Flow style): queue one for a device, list the emulator's queue.",
    "deliveries": "The emulator's delivery journal: every uplink forward and endpoint call, with each attempt.",
    "events": "Show the emulator's event journal: ingress, connection and device state changes, rejected requests.",
    "sink": "Sinks: local destinations in the emulator that record requests and answer from a script.",
    "wait": "Wait until something has happened (exit 0), or exit 7 after --timeout with what was last seen.",
    "apply": "Make the server match an environment file: sinks, buckets, endpoints, devices (callback, properties, tokens) and connections.",
    "export": "Write what the server holds as an environment file (the format of `iotcli apply`).",
    "fleet": "Fleets of simulated HTTP devices: provision N devices in bulk, run them on Locust, remove them again.",
    "check": "Run scenario files: set up, send uplinks and downlinks, move the clock, wait, and check what should hold.",
}


def build_app(only: str | None = None) -> typer.Typer:
    """The command tree; with ``only``, just the root and that command (all its subcommands); with
    ``ROOT_ONLY``, the root with a placeholder per command (see ``iotcli.cli.tree.populate``)."""
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
        rich_markup_mode=None,  # plain click help: no rich import for --help (see tree.py)
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(root)
    return populate(app, COMMANDS, SUMMARIES, only)


def app_for(argv: Sequence[str]) -> typer.Typer:
    """The tree that runs ``iotcli ARGV`` (``iotcli.cli.tree.tree_for``)."""
    return tree_for(argv, build_app)


def __getattr__(name: str) -> Any:
    """``app``: the whole tree, built on first use (tests, documentation tools)."""
    if name == "app":
        app = build_app()
        globals()["app"] = app
        return app
    raise AttributeError(name)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"iotcli {__version__}")
        raise typer.Exit()


def root(
    ctx: typer.Context,
    profile: ProfileOpt = None,
    server: ServerOpt = None,
    user: UserOpt = None,
    token: TokenOpt = None,
    ca_file: CaFileOpt = None,
    json: JsonOpt = False,
    verbose: VerboseOpt = 0,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """Global options apply to every command; each also comes from env IOTCLI_* and the profile."""
    opts = GlobalOptions(
        profile=profile, server=server, user=user, token=token, ca_file=ca_file, json=json, verbose=verbose
    )
    ctx.obj = CliState(opts, Output(json_mode=json, verbose=verbose))
