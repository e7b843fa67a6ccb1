"""The sinks surface (/_emulator/sinks): its route table, schema, and how it attaches to the Emulator."""

from __future__ import annotations

from iotcli.emulator.core import Emulator
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.sinks import routes
from iotcli.emulator.sinks.backend import SinkService
from iotcli.emulator.sinks.schema import MIGRATIONS

ROUTE_TABLES: list[RouteTable] = [routes.routes]

__all__ = ["MIGRATIONS", "ROUTE_TABLES", "attach"]


def attach(emu: Emulator) -> None:
    service = SinkService(emu)
    emu.services["sinks"] = service
    emu.start_hooks.append(service.start)
    emu.stop_hooks.append(service.stop)
