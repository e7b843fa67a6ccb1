"""The iotflow surface: its route tables and how it attaches to the Emulator."""

from __future__ import annotations

from iotcli.emulator.core import Emulator
from iotcli.emulator.routing import RouteTable

ROUTE_TABLES: list[RouteTable] = []


def attach(emu: Emulator) -> None:
    """Create this surface's service on emu and register its delivery policies."""
