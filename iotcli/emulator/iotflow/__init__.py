"""The iotflow surface: its route tables and how it attaches to the Emulator."""

from __future__ import annotations

from iotcli.emulator.core import Emulator
from iotcli.emulator.iotflow import api, lorawan, tunnel
from iotcli.emulator.iotflow.service import IotFlow
from iotcli.emulator.routing import RouteTable

ROUTE_TABLES: list[RouteTable] = [api.routes, lorawan.routes, tunnel.routes]


def attach(emu: Emulator) -> None:
    """Create this surface's service on emu; its delivery policies are registered when the worker starts."""
    service = IotFlow(emu)
    emu.services["iotflow"] = service
    emu.start_hooks.append(service.start)
    emu.stop_hooks.append(service.stop)
    emu.reset_hooks.append(service.reset)
