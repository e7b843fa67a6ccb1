"""Fleets of simulated devices on Locust: user classes to import in your own locustfiles.

``from iotcli.fleet import HttpDevice, LoRaWANDevice`` imports Locust (and so gevent's monkey-patching);
the schedule, template and devices-file helpers (``iotcli.fleet.schedule``, ``.template``, ``.devices``)
do not. Nothing else in iotcli imports this package's Locust side: only ``iotcli fleet run`` does.
"""

from __future__ import annotations

from typing import Any

__all__ = ["HttpDevice", "IotFlowDevice", "LoRaWANDevice"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from iotcli.fleet import users

        return getattr(users, name)
    raise AttributeError(name)
