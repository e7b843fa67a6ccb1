"""The thinger surface: its route tables and how it attaches to the Emulator."""

from __future__ import annotations

from iotcli.emulator.core import Emulator
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger import buckets, callback, devices, endpoints, exports, properties, tokens
from iotcli.emulator.thinger.calls import EndpointPolicy
from iotcli.emulator.thinger.service import ThingerService

ROUTE_TABLES: list[RouteTable] = [
    callback.routes,  # first: the ingest route is the hot path, fewer routes to match before it
    devices.routes,
    tokens.routes,
    buckets.routes,
    exports.routes,
    endpoints.routes,
    properties.routes,
]


def attach(emu: Emulator) -> None:
    """Create this surface's service on emu and register its delivery policies."""
    svc = ThingerService(emu)
    emu.services["thinger"] = svc

    async def start() -> None:
        # The delivery worker exists once the emulator started (before its start hooks run).
        emu.worker.register("endpoint", EndpointPolicy(svc))
        await svc.monitor.start()

    emu.reset_hooks.append(svc.reset)
    emu.start_hooks.append(start)
    emu.stop_hooks.append(svc.monitor.stop)
