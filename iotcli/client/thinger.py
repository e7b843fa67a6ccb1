"""Client methods for the Thinger-style surface (devices, callbacks, buckets, endpoints, properties)."""

from __future__ import annotations

from iotcli.client.base import BaseClient


class ThingerMethods(BaseClient):
    pass
