"""The IoT Flow surface's backend: what ``emu.services["iotflow"]`` holds, and how its parts are wired.

Each part gets what it uses, and none imports this module: connections (state, SQL, cache),
downlinks (class-A queues, the LRC tunnel), the uplink ingress, the forwarding policy the delivery
worker calls, and the reconnect monitor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iotcli.emulator.iotflow.connections import ConnectionService
from iotcli.emulator.iotflow.downlinks import DownlinkService
from iotcli.emulator.iotflow.forwarding import ForwardingPolicy
from iotcli.emulator.iotflow.reconnect import ReconnectMonitor
from iotcli.emulator.iotflow.uplinks import UplinkIngress

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

#: Delivery kinds this surface sends (the outbox's ``kind`` column).
UPLINK_KIND, DOWNLINK_EVENT_KIND = "uplink", "downlink_event"


class IotFlow:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.connections = ConnectionService(emu)
        self.downlinks = DownlinkService(emu, self.connections)
        self.uplinks = UplinkIngress(emu, self.connections, self.downlinks)
        self.forwarding = ForwardingPolicy(emu, self.connections)
        self.reconnect = ReconnectMonitor(emu, self.connections)
        self.connections.wake_monitor = self.reconnect.wake

    async def start(self) -> None:
        await self.connections.load()
        await self.downlinks.load()
        # (Emulator.start already moved the clock past the outbox's own timestamps: _last_known_time.)
        for kind in (UPLINK_KIND, DOWNLINK_EVENT_KIND):
            self.emu.worker.register(kind, self.forwarding)
        await self.reconnect.start()

    async def stop(self) -> None:
        await self.reconnect.stop()

    def reset(self) -> None:
        self.connections.clear()
        self.downlinks.queued_devices.clear()
        # Deliveries handed to the worker but not started yet were wiped: it rescans the outbox.
        self.emu.worker.wake()
