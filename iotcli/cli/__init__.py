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
    import gc

    # What start-up makes (~17,000 objects: modules, classes, the typer tree) lives until the process
    # exits: no collection while it is made, then frozen, so that no collection walks it again, nor does
    # the interpreter's teardown collect it one by one (that was a fifth of a single send-uplink,
    # issue 17). What the command makes is collected as usual.
    gc.disable()
    from iotcli.cli.app import app_for

    app = app_for(sys.argv[1:])
    gc.freeze()
    gc.enable()
    app(prog_name="iotcli")
