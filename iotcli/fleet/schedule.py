"""Durations (``60s``, ``500ms``, ``2m``, ``1h``) and an interval with jitter (``--jitter 20%``)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds from ``60s``, ``500ms``, ``2m``, ``1h`` or a plain number of seconds; ValueError else."""
    m = _DURATION.fullmatch(text or "")
    if not m:
        raise ValueError(f"{what} '{text}' is not a duration: use e.g. 500ms, 60s, 2m or 1h")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_jitter(text: str) -> float:
    """A fraction in [0, 1] from ``20%`` or ``0.2``; ValueError else."""
    raw = (text or "").strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise ValueError(f"jitter '{text}' is not a fraction: use e.g. 20% or 0.2") from None
    if not 0 <= value <= 1:
        raise ValueError(f"jitter '{text}' must be between 0% and 100%")
    return value


@dataclass(frozen=True)
class Interval:
    """Each wait is ``seconds`` scaled by a uniform factor in [1 - jitter, 1 + jitter]."""

    seconds: float
    jitter: float = 0.0

    def next_wait(self, rng: random.Random | None = None) -> float:
        if not self.jitter:
            return self.seconds
        factor = (rng or random).uniform(1 - self.jitter, 1 + self.jitter)
        return max(0.0, self.seconds * factor)

    def first_wait(self, rng: random.Random | None = None) -> float:
        """Devices of a fleet do not all start at once: the first wait is anywhere in one interval."""
        return (rng or random).uniform(0, self.seconds) if self.seconds else 0.0
