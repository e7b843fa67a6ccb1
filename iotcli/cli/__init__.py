"""The typer command tree. Only this package imports typer or rich.

``main`` is the console entry point. It stays light: ``iotcli --version`` answers without
importing typer, and commands import heavy modules (uvicorn, the emulator) only when they run.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from iotcli import __version__

        print(f"iotcli {__version__}")
        return
    if sys.argv[1:2] == ["send-uplink"]:
        # A single send competes with curl and HTTPie: skip assembling the whole tree (see send_fast.py).
        from iotcli.cli import send_fast

        if send_fast.should_take(sys.argv[1:]):
            sys.exit(send_fast.main(sys.argv[2:]))
    from iotcli.cli.app import app_for

    app_for(sys.argv[1:])(prog_name="iotcli")
