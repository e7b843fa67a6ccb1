"""Options shared by several commands, defined once as Annotated aliases."""

from __future__ import annotations

from typing import Annotated

import typer

ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", "-p", envvar="IOTCLI_PROFILE", help="Config profile to use.", show_envvar=True),
]
ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar="IOTCLI_SERVER",
        help="API base URL [default: a local emulator, else http://127.0.0.1:8100].",
        show_envvar=True,
    ),
]
UserOpt = Annotated[
    str | None,
    typer.Option(
        "--user", "-u", envvar="IOTCLI_USER", help="Account user [default: local].", show_envvar=True
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", envvar="IOTCLI_TOKEN", help="API token (Bearer).", show_envvar=True, show_default=False
    ),
]
CaFileOpt = Annotated[
    str | None,
    typer.Option(
        "--ca-file",
        envvar="IOTCLI_CA_FILE",
        help="CA file (PEM) an https server's certificate must chain to [default: the profile's ca_file; "
        "a local `iotcli emulate --tls` is trusted by itself].",
        show_envvar=True,
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help='Print only JSON on stdout: {"data": ...} or {"error": ...}.')
]
VerboseOpt = Annotated[
    int,
    typer.Option("--verbose", "-v", count=True, show_default=False, help="Show more (requests and answers)."),
]

#: The root's options, which every command takes too (``iotcli.cli.tree`` adds them after a command name).
GLOBAL_OPTIONS = {
    "profile": ProfileOpt,
    "server": ServerOpt,
    "user": UserOpt,
    "token": TokenOpt,
    "ca_file": CaFileOpt,
    "json": JsonOpt,
    "verbose": VerboseOpt,
}
