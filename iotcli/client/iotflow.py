"""Client methods for the IoT Flow-style surface (connections, downlinks) and the delivery journals."""

from __future__ import annotations

from iotcli.client.base import BaseClient


class IotFlowMethods(BaseClient):
    pass
