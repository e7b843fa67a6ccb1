"""The IoT Flow surface's service object: what ``emu.services["iotflow"]`` holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from iotcli.emulator.iotflow.connections import ConnectionService
from iotcli.emulator.iotflow.downlinks import DownlinkService
from iotcli.emulator.iotflow.forwarding import ForwardingPolicy

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

#: Delivery kinds this surface sends (the outbox's ``kind`` column).
UPLINK_KIND, DOWNLINK_EVENT_KIND = "uplink", "downlink_event"


class IotFlow:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.connections = ConnectionService(emu)
        self.downlinks = DownlinkService(self)
        self.forwarding = ForwardingPolicy(self)

    async def start(self) -> None:
        await self.connections.load()
        for kind in (UPLINK_KIND, DOWNLINK_EVENT_KIND):
            self.emu.worker.register(kind, self.forwarding)

    def reset(self) -> None:
        self.connections.clear()
