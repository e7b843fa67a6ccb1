"""The thinger surface's backend: its state (store tables, memory caches) and its rules.

The route modules of ``iotcli.emulator.thinger`` only parse a request and answer it; what a request
does is here, one object per resource (``ThingerBackend.devices``, ``.buckets``, ...), each change in
one store job with its event, the cached entries it changed dropped after the commit (as moto splits
responses from models). ``POST /_emulator/reset`` drops every cache (``reset``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iotcli.emulator.thinger.backend.access_tokens import AccessTokens
from iotcli.emulator.thinger.backend.buckets import Buckets
from iotcli.emulator.thinger.backend.callbacks import Callbacks
from iotcli.emulator.thinger.backend.devices import Devices
from iotcli.emulator.thinger.backend.endpoints import EndpointPolicy, Endpoints
from iotcli.emulator.thinger.backend.exports import Exports
from iotcli.emulator.thinger.backend.ingest import IngestWriter
from iotcli.emulator.thinger.backend.intake import CallbackIntake
from iotcli.emulator.thinger.backend.properties import Properties
from iotcli.emulator.thinger.backend.records import RecordTimes
from iotcli.emulator.thinger.backend.state import Caches
from iotcli.emulator.thinger.backend.timeouts import ConnectionMonitor
from iotcli.emulator.thinger.backend.tokens import DeviceTokens

if TYPE_CHECKING:
    from iotcli.emulator.core import Emulator

__all__ = ["ThingerBackend"]


class ThingerBackend:
    """Everything the thinger surface keeps and does (``emu.services["thinger"]``)."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.caches = Caches(emu.store)
        #: Server-assigned record times, shared by the bucket write route and the callback ingest.
        self.times = RecordTimes()
        self.monitor = ConnectionMonitor(emu)
        #: Callback ingest calls that arrive together are written together (see ingest.py).
        self.ingest_writer = IngestWriter(emu, self.caches, self.times)
        self.intake = CallbackIntake(emu, self.caches, self.ingest_writer, self.monitor)
        self.devices = Devices(emu, self.caches, self.monitor)
        self.callbacks = Callbacks(emu, self.caches, self.monitor)
        self.device_tokens = DeviceTokens(emu, self.caches)
        self.access_tokens = AccessTokens(emu)
        self.buckets = Buckets(emu, self.caches, self.times)
        self.exports = Exports(emu, self.caches)
        self.endpoints = Endpoints(emu, self.caches)
        self.properties = Properties(emu)
        #: The outbox policy of endpoint calls (registered with the delivery worker at start).
        self.endpoint_policy = EndpointPolicy(emu, self.caches)

    def reset(self) -> None:
        self.times.clear()
        self.caches.clear()
        self.monitor.reset()
