"""The error hierarchy shared by the library and the CLI, and the CLI's exit codes.

Imports nothing from typer, rich or httpx: the client raises these, the CLI's one error
boundary (``iotcli.cli.errors``) turns them into a line on stderr and an exit code.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """Exit codes of every iotcli command (CONTRACT section 5)."""

    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    CONFIG = 3
    API_CLIENT_ERROR = 4  # the API answered 4xx
    API_SERVER_ERROR = 5  # the API answered 5xx
    NETWORK = 6  # connection refused, DNS, timeout
    CONDITION = 7  # a `check` assertion or a `wait` condition did not hold
    INTERRUPTED = 130


def exit_code_for_status(status: int, *, failed: bool = False) -> ExitCode:
    """The exit code of an HTTP answer (CONTRACT section 5): 5xx 5, 4xx 4, 2xx 0, anything else 1.

    The one status-to-exit-code mapping: ``ApiError`` (client) and ``send-uplink``'s summary use it.
    ``failed``: the answer is an error whatever its status (an ``ApiError`` for a 2xx that is not
    JSON): anything below 500 counts as the client's, 4.
    """
    if status >= 500:
        return ExitCode.API_SERVER_ERROR
    if status >= 400 or failed:
        return ExitCode.API_CLIENT_ERROR
    if 200 <= status < 300:
        return ExitCode.OK
    return ExitCode.UNEXPECTED


class IotcliError(Exception):
    """Base of every error iotcli reports to a user: a message, an optional hint, an exit code."""

    exit_code: ExitCode = ExitCode.UNEXPECTED
    code: str = "error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "hint": self.hint}


class UsageError(IotcliError):
    """The command line itself is wrong (bad value, missing option, unparsable item)."""

    exit_code = ExitCode.USAGE
    code = "usage"


class ConfigError(IotcliError):
    """The configuration file or a profile is missing, unreadable or invalid."""

    exit_code = ExitCode.CONFIG
    code = "config"


class ApiError(IotcliError):
    """The API answered with a non-2xx status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        hint: str | None = None,
        body: Any = None,
        api_code: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.body = body
        self.api_code = api_code
        # An error answer, whatever its status: a 2xx the client cannot use (not JSON) counts as 4.
        self.exit_code = exit_code_for_status(status, failed=True)
        self.code = f"http_{status}"

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["status"] = self.status
        return data


class NetworkError(IotcliError):
    """The server could not be reached, or the connection broke."""

    exit_code = ExitCode.NETWORK
    code = "network"


class RequestTimeout(NetworkError):
    """The server did not answer in time."""

    code = "timeout"


class ConditionNotMet(IotcliError):
    """A ``wait`` condition did not come true in time (or a ``check`` assertion did not hold)."""

    exit_code = ExitCode.CONDITION
    code = "condition"


class StreamEnded(NetworkError):
    """A stream that runs until the user stops it was ended by the server (e.g. the emulator stopped)."""

    code = "stream_ended"
