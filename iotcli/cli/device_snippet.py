"""``iotcli device snippet ID --lang ...``: placeholder until helper E's implementation lands."""

from __future__ import annotations

from typing import Annotated

import typer

from iotcli.errors import UsageError


def snippet(
    device: Annotated[str, typer.Argument(help="Device id.", show_default=False)],
    lang: Annotated[str, typer.Option("--lang", help="curl, httpie, python, arduino or postman.")] = "curl",
) -> None:
    """Print code that sends data to a device's callback URL (not implemented yet).

    Example:  iotcli device snippet sensor-1 --lang python
    """
    raise UsageError("device snippet: not implemented yet")
