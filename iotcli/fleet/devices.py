"""The devices file that ``iotcli fleet provision`` writes and ``fleet run`` reads (no Locust here)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SimDevice:
    device: str
    callback_url: str
    token: str | None = None


def load_devices(path: str | Path) -> tuple[dict[str, Any], list[SimDevice]]:
    """The file's header (server, user, prefix) and its devices; ValueError when it is not one."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("devices"), list):
        raise ValueError(f"{path} is not a devices file (no 'devices' list)")
    devices = [
        SimDevice(str(d["device"]), str(d["callback_url"]), d.get("token"))
        for d in data["devices"]
        if isinstance(d, dict) and d.get("device") and d.get("callback_url")
    ]
    return data, devices


def deveuis(count: int, first: str = "70B3D57ED0000000") -> list[str]:
    """``count`` consecutive DevEUIs from ``first`` (the simulated LoRaWAN devices of a fleet)."""
    start = int(first, 16)
    return [f"{start + i:016X}" for i in range(count)]
