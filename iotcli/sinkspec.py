"""What a sink answers: its script, validated the same way by the emulator and the CLI.

A sink (``/_emulator/sinks/{name}``) answers each request it receives from its script::

    {"respond": [503, 503, 200],      # one answer per request, in order: a status, "timeout" or "reset"
     "default": 200,                  # ... then this one for every later request
     "delay": 2,                      # emulated seconds before answering, or [min, max] for a random one
     "body": {"ok": true},            # the answer body (a string as is, anything else as JSON)
     "headers": {"X-App": "smoke"},   # answer headers
     "downlink": {"payload_hex": "0a", "FPort": 2}}   # class-A loop-back (see docs/sinks.md)

No typer, no httpx, no starlette: the CLI (``--respond 503,503,200``, ``--delay 1s-3s``) and the
emulator's sink routes both use these functions, so a bad script is refused with the same words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

#: Answers a sink can give besides an HTTP status.
TIMEOUT, RESET = "timeout", "reset"
SPECIAL = (TIMEOUT, RESET)
#: Longest delay a script may ask for (emulated seconds).
MAX_DELAY = 3600.0
#: Most answers a status sequence may hold.
MAX_SEQUENCE = 1000
HEX = re.compile(r"^(?:[0-9a-fA-F]{2})*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$", re.IGNORECASE)
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class ScriptError(ValueError):
    """A script that cannot be used; the message names the field."""


Answer = int | str  # an HTTP status, or "timeout" / "reset"


@dataclass
class SinkScript:
    respond: list[Answer] = field(default_factory=list)
    default: Answer = 200
    delay: float | tuple[float, float] = 0.0
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    downlink: dict[str, Any] | None = None

    def answer_for(self, served: int) -> Answer:
        """The answer to the request that comes after ``served`` answered ones."""
        return self.respond[served] if served < len(self.respond) else self.default

    def to_dict(self) -> dict[str, Any]:
        return {
            "respond": list(self.respond),
            "default": self.default,
            "delay": list(self.delay) if isinstance(self.delay, tuple) else self.delay,
            "body": self.body,
            "headers": dict(self.headers),
            "downlink": None if self.downlink is None else dict(self.downlink),
        }


SCRIPT_KEYS = ("respond", "default", "delay", "body", "headers", "downlink")


def parse_answer(value: Any, where: str) -> Answer:
    """One answer: an HTTP status 100-599 (number or digits), ``timeout`` or ``reset``."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in SPECIAL:
            return text
        if text.isdigit():
            value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise ScriptError(
            f"{where}: '{value}' is not an answer: use an HTTP status 100-599, 'timeout' or 'reset'"
        )
    return value


def parse_respond(text: str) -> list[Answer]:
    """``503,503,200`` (or ``timeout,reset,200``) -> the status sequence."""
    items = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise ScriptError(f"respond: '{text}' is not a list of answers (example: 503,503,200)")
    return [parse_answer(item, "respond") for item in items]


def parse_seconds(text: str, where: str = "delay") -> float:
    """``2``, ``2s``, ``500ms``, ``1.5m`` -> seconds."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise ScriptError(f"{where}: '{text}' is not a duration (examples: 2, 2s, 500ms, 1m)")
    unit = match.group(2).lower() if match.group(2) else None
    return float(match.group(1)) * _UNITS[unit]


def parse_delay(text: str) -> float | tuple[float, float]:
    """``2s`` (fixed) or ``1s-3s`` (random between the two) -> seconds."""
    low, sep, high = text.partition("-")
    if not sep:
        return check_delay(parse_seconds(text))
    return check_delay([parse_seconds(low), parse_seconds(high)])


def check_delay(value: Any) -> float | tuple[float, float]:
    if isinstance(value, list | tuple):
        if len(value) != 2:
            raise ScriptError("delay: a random delay is [min, max]")
        low, high = (_seconds(v) for v in value)
        if low > high:
            raise ScriptError(f"delay: the minimum {low:g} is larger than the maximum {high:g}")
        return (low, high)
    return _seconds(value)


def _seconds(value: Any) -> float:
    if isinstance(value, str):
        value = parse_seconds(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ScriptError(f"delay: '{value}' is not a number of seconds")
    if not 0 <= value <= MAX_DELAY:
        raise ScriptError(f"delay: must be between 0 and {MAX_DELAY:g} seconds")
    return float(value)


def check_downlink(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ScriptError("downlink: must be an object {payload_hex, FPort}")
    unknown = set(value) - {"payload_hex", "FPort"}
    if unknown:
        raise ScriptError(f"downlink: unknown field '{sorted(unknown)[0]}' (known: payload_hex, FPort)")
    payload = value.get("payload_hex")
    if not isinstance(payload, str) or not payload or not HEX.fullmatch(payload):
        raise ScriptError("downlink.payload_hex: must be an even number of hex digits, e.g. 0a")
    out: dict[str, Any] = {"payload_hex": payload.lower()}
    fport = value.get("FPort")
    if fport is not None:
        if isinstance(fport, bool) or not isinstance(fport, int) or not 1 <= fport <= 224:
            raise ScriptError(f"downlink.FPort: '{fport}' must be a number 1-224")
        out["FPort"] = fport
    return out


def parse_script(data: dict[str, Any]) -> SinkScript:
    """Validate a script object (the sink fields besides ``name``); unknown keys are refused."""
    unknown = set(data) - set(SCRIPT_KEYS)
    if unknown:
        raise ScriptError(f"unknown field '{sorted(unknown)[0]}' (known: {', '.join(SCRIPT_KEYS)})")
    script = SinkScript()
    respond = data.get("respond")
    if respond is not None:
        if isinstance(respond, str):
            script.respond = parse_respond(respond)
        elif isinstance(respond, list):
            script.respond = [parse_answer(v, f"respond[{i}]") for i, v in enumerate(respond)]
        else:
            raise ScriptError("respond: must be a list of answers, e.g. [503, 503, 200]")
        if len(script.respond) > MAX_SEQUENCE:
            raise ScriptError(f"respond: at most {MAX_SEQUENCE} answers")
    if data.get("default") is not None:
        script.default = parse_answer(data["default"], "default")
    if data.get("delay") is not None:
        script.delay = check_delay(data["delay"])
    script.body = data.get("body")
    headers = data.get("headers") or {}
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and "\n" not in k + v and "\r" not in k + v
        for k, v in headers.items()
    ):
        raise ScriptError("headers: must be an object of header names to string values")
    script.headers = dict(headers)
    script.downlink = check_downlink(data.get("downlink"))
    return script
