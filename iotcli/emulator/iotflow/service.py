"""The IoT Flow surface's service object: what ``emu.services["iotflow"]`` holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from iotcli.emulator.iotflow.connections import ConnectionService

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator


class IotFlow:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.connections = ConnectionService(emu)

    async def start(self) -> None:
        await self.connections.load()

    def reset(self) -> None:
        self.connections.clear()
