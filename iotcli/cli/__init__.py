"""The typer command tree. Only this package imports typer or rich.

``main`` is the console entry point. It stays light: ``iotcli --version`` answers without
importing typer, a command builds only its own group of the tree (``app_for``), and commands import
heavy modules (httpx, rich, uvicorn, the emulator) only when they use them.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from iotcli import __version__

        print(f"iotcli {__version__}")
        return
    # httpx's package imports its optional command line (click, rich, pygments: ~80 ms) when it can;
    # the CLI never uses it, so make that import fail and httpx skips it.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from iotcli.cli.app import app_for

    app_for(sys.argv[1:])(prog_name="iotcli")
