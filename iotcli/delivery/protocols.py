"""What the delivery worker needs from its host: a clock and an event journal.

The worker depends on these small Protocols instead of the emulator's classes, so ``delivery/``
imports nothing from ``emulator/`` (checked by the import-linter contracts in pyproject.toml);
the emulator's ``EmulatorClock`` and ``EventJournal`` satisfy them structurally.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any, Protocol


class Clock(Protocol):
    """The one (scalable, advanceable) clock the worker schedules retries by."""

    def now(self) -> float:
        """Current time, epoch seconds."""
        ...

    async def sleep_until(self, deadline: float, wake: asyncio.Event | None = None) -> None:
        """Return when the clock reaches ``deadline``, or earlier once ``wake`` is set."""
        ...


class Journal(Protocol):
    """The event journal the worker writes delivery outcomes to."""

    def stage(self, conn: sqlite3.Connection, kind: str, data: dict[str, Any]) -> dict[str, Any]:
        """Insert an event inside the caller's store transaction; returns it for ``publish``."""
        ...

    def publish(self, *events: dict[str, Any]) -> None:
        """Hand committed events to live followers."""
        ...
