"""The thinger surface: its route tables and how it attaches to the Emulator."""

from __future__ import annotations

from iotcli.emulator.core import Emulator
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger import devices, tokens
from iotcli.emulator.thinger.service import ThingerService

ROUTE_TABLES: list[RouteTable] = [devices.routes, tokens.routes]


def attach(emu: Emulator) -> None:
    """Create this surface's service on emu and register its delivery policies."""
    svc = ThingerService(emu)
    emu.services["thinger"] = svc
    emu.reset_hooks.append(svc.reset)
    emu.start_hooks.append(svc.monitor.start)
    emu.stop_hooks.append(svc.monitor.stop)
