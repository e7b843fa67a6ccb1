"""One uplink's outcome: ``send_one`` sends a request and gives a ``Result``; ``exit_code_for`` says
what a set of outcomes means for the exit code.

A single ``send-uplink`` needs only this; ``runner`` (``--repeat``, ``--rate``, ``--concurrency`` and
their ``Summary``) is imported only to send many.
"""

from __future__ import annotations

from collections import Counter

from iotcli.errors import ExitCode, exit_code_for_status
from iotcli.models.render import Prepared
from iotcli.sending.request import RequestPlan
from iotcli.sending.transport import Answer, SendFailure, Transport

#: The emulator's answer header on a callback that stored nothing, with the reason (real servers never send it).
NOT_STORED_HEADER = "X-Iotcli-Not-Stored"


class Result:
    """One uplink: its number (1..N), the answer or the failure (a plain class: see ``iotcli.sending``)."""

    __slots__ = ("index", "answer", "failure")

    def __init__(self, index: int, answer: Answer | None = None, failure: SendFailure | None = None) -> None:
        self.index = index
        self.answer = answer
        self.failure = failure

    def __repr__(self) -> str:
        return f"Result(#{self.index} {self.outcome})"

    @property
    def status(self) -> int | None:
        return self.answer.status if self.answer else None

    @property
    def ok(self) -> bool:
        return self.answer is not None and 200 <= self.answer.status < 300

    @property
    def not_stored(self) -> str | None:
        """Why the platform stored nothing, when the emulator said so (``X-Iotcli-Not-Stored``)."""
        return self.answer.header(NOT_STORED_HEADER) if self.answer is not None else None

    @property
    def latency(self) -> float:
        if self.answer is not None:
            return self.answer.latency
        return self.failure.latency if self.failure else 0.0

    @property
    def outcome(self) -> str:
        """'200', '404', ..., 'network' or 'timeout'."""
        if self.answer is not None:
            return str(self.answer.status)
        return "timeout" if self.failure and self.failure.timeout else "network"


def exit_code_for(outcomes: Counter[str] | dict[str, int]) -> ExitCode:
    """The most severe outcome decides: network/timeout 6 > 5xx 5 > 4xx 4 > other non-2xx 1; else 0."""
    return max((_exit_code_of(k) for k, n in outcomes.items() if n), default=ExitCode.OK)


def _exit_code_of(outcome: str) -> ExitCode:
    """One outcome's exit code: a status through ``iotcli.errors.exit_code_for_status``."""
    if outcome in ("network", "timeout"):
        return ExitCode.NETWORK
    return exit_code_for_status(int(outcome)) if outcome.isdigit() else ExitCode.UNEXPECTED


def send_one(source: RequestPlan | Prepared, transport: Transport, index: int = 1) -> Result:
    """Send uplink ``index``: a plan is rendered for it; a request already rendered (``Prepared``,
    the one a caller has shown) is sent exactly as it is."""
    request = source if isinstance(source, Prepared) else source.render(index)
    try:
        return Result(index, answer=transport.send(request))
    except SendFailure as failure:
        return Result(index, failure=failure)
