"""Body templates: ``{{i}}``, ``{{now}}``, ``{{now_iso}}``, ``{{random}}``, ``{{random:MIN:MAX}}``.

A body is compiled once into literal parts and placeholders, then rendered per uplink, so that
``--repeat 5000`` costs one string join per request. Unknown ``{{names}}`` are left as they are
(Thinger endpoint bodies use ``{{field}}`` themselves).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from iotcli.models.patterns import lazy_patterns

if TYPE_CHECKING:
    #: A placeholder: ``{{name}}`` or ``{{name:ARG}}`` (compiled on first use: see ``__getattr__``).
    PLACEHOLDER: re.Pattern[str]


# Compiled when a text has "{{" (every placeholder does), not at import: most bodies have none.
_pattern, __getattr__ = lazy_patterns(
    __name__, {"PLACEHOLDER": r"\{\{\s*(i|n|now|now_iso|random|fcnt)\s*(?::\s*([^}]*?))?\s*\}\}"}
)


#: What each placeholder becomes (shown in the help and docs).
PLACEHOLDERS = {
    "{{i}}": "the uplink's number, 1..N",
    "{{now}}": "the send time in epoch milliseconds, distinct for each uplink of a run",
    "{{now_iso}}": "the send time as ISO 8601 (UTC, milliseconds)",
    "{{random}}": "a random number in [0, 1)",
    "{{random:MIN:MAX}}": "a random integer (both ends integers) or 2-decimal number in [MIN, MAX]",
}


class RenderContext(NamedTuple):
    """What a placeholder may depend on. (A NamedTuple: immutable like the frozen dataclass it was,
    at a tenth of its start-up cost, see ``iotcli.sending``.)"""

    i: int = 1
    fcnt: int = 0  # LoRaWAN frame counter of this uplink (IoT Flow bodies)


_last_ms = 0
_now_lock = threading.Lock()


def unique_now_ms() -> int:
    """Epoch ms, bumped by 1 when two uplinks fall in the same millisecond.

    A Thinger bucket keeps one record per timestamp (a second one replaces the first), so uplinks
    sent at once must not share a ``ts``.
    """
    global _last_ms
    with _now_lock:
        _last_ms = max(int(time.time() * 1000), _last_ms + 1)
        return _last_ms


def iso_now(ts: float | None = None) -> str:
    dt = datetime.fromtimestamp(time.time() if ts is None else ts, tz=UTC)
    return dt.isoformat(timespec="milliseconds")


def _random_between(arg: str) -> Callable[[RenderContext], str]:
    parts = arg.split(":")
    if len(parts) != 2:
        raise ValueError(f"{{{{random:{arg}}}}} needs MIN:MAX")
    low_s, high_s = parts[0].strip(), parts[1].strip()
    try:
        low, high = float(low_s), float(high_s)
    except ValueError:
        raise ValueError(f"{{{{random:{arg}}}}}: MIN and MAX must be numbers") from None
    if low > high:
        raise ValueError(f"{{{{random:{arg}}}}}: MIN is above MAX")
    import random  # here, not at start-up: most uplinks have no {{random}} (~1 ms)

    if low.is_integer() and high.is_integer() and "." not in low_s + high_s:
        lo, hi = int(low), int(high)
        return lambda _ctx: str(random.randint(lo, hi))
    return lambda _ctx: f"{random.uniform(low, high):.2f}"


def _renderer(name: str, arg: str | None) -> Callable[[RenderContext], str]:
    if name in ("i", "n"):
        return lambda ctx: str(ctx.i)
    if name == "fcnt":
        return lambda ctx: str(ctx.fcnt)
    if name == "now":
        return lambda _ctx: str(unique_now_ms())
    if name == "now_iso":
        return lambda _ctx: iso_now()
    if arg:
        return _random_between(arg)
    import random

    return lambda _ctx: f"{random.random():.6f}"


class Template:
    """A text with placeholders, compiled once and rendered per uplink."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._parts: list[str | Callable[[RenderContext], str]] = []
        if "{{" not in text:  # no placeholder: one literal part
            if text:
                self._parts.append(text)
            return
        pos = 0
        for m in _pattern("PLACEHOLDER").finditer(text):
            if m.start() > pos:
                self._parts.append(text[pos : m.start()])
            self._parts.append(_renderer(m.group(1), m.group(2)))
            pos = m.end()
        if pos < len(text):
            self._parts.append(text[pos:])

    @property
    def is_static(self) -> bool:
        return all(isinstance(p, str) for p in self._parts)

    def render(self, ctx: RenderContext | None = None) -> str:
        if self.is_static:
            return self.text
        ctx = ctx or RenderContext()
        return "".join(p if isinstance(p, str) else p(ctx) for p in self._parts)


def has_placeholder(text: str) -> bool:
    return "{{" in text and _pattern("PLACEHOLDER").search(text) is not None


def sample(text: str) -> str:
    """The text with every placeholder replaced by a plain number (to validate JSON with placeholders)."""
    return _pattern("PLACEHOLDER").sub("1", text) if "{{" in text else text


class RawJson:
    """A JSON fragment kept as text (it holds placeholders, so it is only valid JSON once rendered)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RawJson) and other.text == self.text

    def __repr__(self) -> str:
        return f"RawJson({self.text!r})"


def dumps(value: Any, *, indent: int | None = None) -> str:
    """json.dumps that writes RawJson fragments verbatim (compact, or indented like json.dumps)."""
    if indent is None:
        return _dumps(value, None, 0)
    return _dumps(value, " " * indent, 0)


def _dumps(value: Any, indent: str | None, level: int) -> str:
    if isinstance(value, RawJson):
        return value.text
    if isinstance(value, dict):
        if not value:
            return "{}"
        colon = ":" if indent is None else ": "
        items = [
            f"{json.dumps(str(k), ensure_ascii=False)}{colon}{_dumps(v, indent, level + 1)}"
            for k, v in value.items()
        ]
        return _join("{", "}", items, indent, level)
    if isinstance(value, list):
        if not value:
            return "[]"
        return _join("[", "]", [_dumps(v, indent, level + 1) for v in value], indent, level)
    return json.dumps(value, ensure_ascii=False)


def _join(open_: str, close: str, items: list[str], indent: str | None, level: int) -> str:
    if indent is None:
        return open_ + ",".join(items) + close
    inner = "\n" + indent * (level + 1)
    return open_ + inner + ("," + inner).join(items) + "\n" + indent * level + close
