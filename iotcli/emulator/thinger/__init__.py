"""The thinger surface: its route tables and how it attaches to the Emulator."""

from __future__ import annotations

from iotcli.emulator.core import Emulator
from iotcli.emulator.permissions import ActionMap
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.thinger import (
    access_tokens,
    buckets,
    bulk,
    callback,
    devices,
    endpoints,
    exports,
    properties,
    server_info,
    tokens,
)
from iotcli.emulator.thinger.backend import ThingerBackend
from iotcli.emulator.thinger.backend.access_tokens import load_grant
from iotcli.emulator.thinger.validation import document

ROUTE_TABLES: list[RouteTable] = [
    callback.routes,  # first: the ingest route is the hot path, fewer routes to match before it
    devices.routes,
    tokens.routes,
    buckets.routes,
    exports.routes,
    endpoints.routes,
    properties.routes,
    access_tokens.routes,
    server_info.routes,
    bulk.routes,  # the emulator's own: fleet provisioning in bulk
]


def actions() -> ActionMap:
    """What each request is, for the permissions of user access tokens: the real OpenAPI's operations,
    plus the emulator's own route on the same resources."""
    table = ActionMap.from_openapi(document())
    # Clearing a bucket's records: the ClearBucket action [source: thinger-io/Docs features/access-tokens.md].
    table.add("DELETE", "/v1/users/{user}/buckets/{bucket}/data", "Bucket", "ClearBucket")
    return table


def attach(emu: Emulator) -> None:
    """Create this surface's backend on emu and register its delivery policies."""
    backend = ThingerBackend(emu)
    emu.services["thinger"] = backend
    emu.auth.grant_loaders["access"] = load_grant
    emu.auth.actions = actions()

    async def start() -> None:
        # The delivery worker exists once the emulator started (before its start hooks run).
        emu.worker.register("endpoint", backend.endpoint_policy)
        await backend.monitor.start()

    emu.reset_hooks.append(backend.reset)
    emu.start_hooks.append(start)
    emu.stop_hooks.append(backend.monitor.stop)
