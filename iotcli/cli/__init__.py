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
    from iotcli.cli.app import app

    app(prog_name="iotcli")
