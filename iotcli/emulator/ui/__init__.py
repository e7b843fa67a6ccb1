"""The web inspector (``/`` and ``/_emulator/ui/``): server-rendered pages over the API's own queries."""

from __future__ import annotations

from iotcli.emulator.core import Emulator
from iotcli.emulator.ui.routes import routes
from iotcli.emulator.ui.security import Sessions

__all__ = ["attach", "routes"]


def attach(emu: Emulator) -> None:
    """Give the emulator the inspector's login sessions (``emu.services["ui"]``)."""
    emu.services["ui"] = Sessions(emu)
