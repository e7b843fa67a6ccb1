"""Payload templates with per-device state, on top of iotcli.sending.template.

Besides the send-uplink placeholders (``{{i}}`` = this device's uplink number, ``{{now}}``, ``{{now_iso}}``,
``{{random:MIN:MAX}}``, ``{{fcnt}}`` = this device's FCntUp) a fleet template knows:
``{{device}}`` (the device id), ``{{counter}}`` / ``{{counter:NAME}}`` (a per-device counter from 1),
``{{walk:NAME:MIN:MAX}}`` (a per-device random walk that stays in [MIN, MAX]).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from iotcli.sending.template import RenderContext, Template

FLEET_PLACEHOLDER = re.compile(r"\{\{\s*(device|counter|walk)\s*(?::\s*([^}]*?))?\s*\}\}")

PLACEHOLDERS = {
    "{{device}}": "the device id",
    "{{counter}}, {{counter:NAME}}": "a counter of this device, 1, 2, 3, ...",
    "{{walk:NAME:MIN:MAX}}": "a random walk of this device, kept in [MIN, MAX] (2 decimals)",
}


@dataclass
class DeviceState:
    """What one simulated device remembers between uplinks."""

    device: str
    uplinks: int = 0  # sent so far
    fcnt: int = -1  # FCntUp of the last uplink (the first is 0)
    counters: dict[str, int] = field(default_factory=dict)
    walks: dict[str, float] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)

    def next_uplink(self) -> RenderContext:
        self.uplinks += 1
        self.fcnt += 1
        return RenderContext(i=self.uplinks, fcnt=self.fcnt)


Part = str | Template | Callable[[DeviceState], str]


def _walk(arg: str | None) -> Callable[[DeviceState], str]:
    parts = (arg or "").split(":")
    if len(parts) != 3 or not parts[0].strip():
        raise ValueError(f"{{{{walk:{arg}}}}} needs NAME:MIN:MAX (e.g. {{{{walk:temperature:18:25}}}})")
    name = parts[0].strip()
    try:
        low, high = float(parts[1]), float(parts[2])
    except ValueError:
        raise ValueError(f"{{{{walk:{arg}}}}}: MIN and MAX must be numbers") from None
    if low > high:
        raise ValueError(f"{{{{walk:{arg}}}}}: MIN is above MAX")
    step = (high - low) / 20

    def render(state: DeviceState) -> str:
        value = state.walks.get(name)
        if value is None:
            value = state.rng.uniform(low, high)
        else:
            value = min(high, max(low, value + state.rng.uniform(-step, step)))
        state.walks[name] = value
        return f"{value:.2f}"

    return render


def _counter(arg: str | None) -> Callable[[DeviceState], str]:
    name = (arg or "").strip() or "counter"

    def render(state: DeviceState) -> str:
        state.counters[name] = state.counters.get(name, 0) + 1
        return str(state.counters[name])

    return render


class FleetTemplate:
    """Compiled once for the fleet, rendered per device and uplink with that device's state."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._parts: list[Part] = []
        pos = 0
        for m in FLEET_PLACEHOLDER.finditer(text):
            if m.start() > pos:
                self._parts.append(Template(text[pos : m.start()]))
            kind, arg = m.group(1), m.group(2)
            if kind == "device":
                self._parts.append(lambda state: state.device)
            elif kind == "counter":
                self._parts.append(_counter(arg))
            else:
                self._parts.append(_walk(arg))
            pos = m.end()
        if pos < len(text):
            self._parts.append(Template(text[pos:]))

    def render(self, state: DeviceState, ctx: RenderContext | None = None) -> str:
        """The next uplink's body (``ctx``: from ``state.next_uplink()``, called once per uplink)."""
        ctx = ctx or RenderContext(i=state.uplinks, fcnt=max(state.fcnt, 0))
        out = []
        for part in self._parts:
            if isinstance(part, Template):
                out.append(part.render(ctx))
            elif isinstance(part, str):
                out.append(part)
            else:
                out.append(part(state))
        return "".join(out)
