"""What the delivery worker needs from its host (a clock, an event journal), what it asks of a delivery
kind (a policy), and what it sends through (an HTTP client).

The worker depends on these small Protocols instead of the emulator's classes, so ``delivery/``
imports nothing from ``emulator/`` (checked by the import-linter contracts in pyproject.toml);
the emulator's ``EmulatorClock`` and ``EventJournal`` satisfy them structurally.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from iotcli.delivery.outbox import AttemptResult, Decision, Delivery, OutboundRequest


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


class DeliveryPolicy(Protocol):
    """What a kind of delivery sends and how it reacts to the answer."""

    async def prepare(self, delivery: Delivery) -> OutboundRequest | Decision:
        """The request to send now, or a Decision instead of sending (e.g. expired, held back)."""
        ...

    def decide(self, delivery: Delivery, result: AttemptResult) -> Decision:
        """After an attempt: delivered, pending again (with next_at), dropped or failed."""
        ...

    def lane_limit(self, delivery: Delivery) -> int:
        """How many deliveries of this delivery's lane may be in flight at once (1 keeps order)."""
        ...

    async def after(self, delivery: Delivery, result: AttemptResult | None, decision: Decision) -> None:
        """Called once the decision is committed (state changes, events, follow-up deliveries)."""
        ...


@dataclass
class Answer:
    """An HTTP answer as the journal keeps it: the status and the body (at most the client's cap)."""

    status: int
    body: bytes
    #: How ``body`` decodes to ``text`` (the charset the answer named, else UTF-8).
    encoding: str = "utf-8"

    @property
    def text(self) -> str:
        return self.body.decode(self.encoding, "replace")


class SendError(Exception):
    """No usable answer to a request. ``error`` is what the journal records for the attempt."""

    #: What the error text starts with (the kind of failure).
    label = ""
    #: The destination gave no answer (as opposed to a request that could not be made at all).
    unreachable = True

    @property
    def error(self) -> str:
        return f"{self.label}{self.args[0] if self.args else ''}"


class AnswerTimeout(SendError):
    """No complete answer in time."""

    label = "timeout: "


class ConnectFailed(SendError):
    """The destination could not be reached (no connection)."""

    label = "ConnectError: "


class ProtocolError(SendError):
    """The destination's answer is not valid HTTP/1.x."""

    label = "RemoteProtocolError: ProtocolError: "


class ConnectionLost(SendError):
    """The connection broke before a complete answer (its text names the cause)."""

    label = "RemoteProtocolError: "


class TransportFailed(SendError):
    """Any other network failure (its text names the cause)."""


class InvalidRequest(SendError, ValueError):
    """The request cannot be made (a bad URL, a scheme the client does not speak)."""

    label = "invalid request: "
    unreachable = False


class HttpClient(Protocol):
    """What the delivery sender sends through: the fast HTTP/1.1 client, httpx, or a test's fake.

    ``request`` returns the answer, or raises a ``SendError`` (any other exception is a bug of the
    client: the worker records it as an internal error and retries later).
    """

    async def request(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        body: bytes,
        params: dict[str, str] | None = None,
    ) -> Answer: ...

    async def aclose(self) -> None: ...
