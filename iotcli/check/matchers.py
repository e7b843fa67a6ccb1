"""Expected values of a scenario: literals or operator tables, and JsonPath over JSON documents.

A matcher is a literal (``21``, ``"POST"``, ``true``: equal to it) or a table whose keys are all operators
(``{ ge = 3 }``, ``{ matches = "^0018" }``, ``{ approx = 2, within = 0.5 }``). Numbers compare as numbers
(``1 == 1.0``) but a boolean is never a number. Paths are JsonPath (jsonpath-ng): ``$.DevEUI_uplink.FPort``,
``$.items[0].name``; a bare ``a.b`` is read as ``$.a.b``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

#: Operator -> what it means (shown in errors and the docs).
OPERATORS = {
    "eq": "equal to",
    "ne": "not equal to",
    "gt": "greater than",
    "ge": "at least",
    "lt": "less than",
    "le": "at most",
    "in": "one of",
    "contains": "containing",
    "matches": "matching the regular expression",
    "exists": "present (true) or absent (false)",
    "approx": "within `within` (default 0.5) of",
    "within": "(the tolerance of approx)",
}
NUMERIC = ("gt", "ge", "lt", "le", "approx")
MISSING = object()


class MatcherError(ValueError):
    """A matcher that cannot be used (its message names the problem; the caller adds where)."""


def is_operator_table(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(k in OPERATORS for k in value)


def check_matcher(value: Any) -> None:
    """Raise MatcherError when ``value`` cannot be a matcher (checked before anything runs)."""
    if not is_operator_table(value):
        return
    if "within" in value and "approx" not in value:
        raise MatcherError("'within' goes with 'approx'")
    for op, arg in value.items():
        if op in NUMERIC or op == "within":
            if not _is_number(arg):
                raise MatcherError(f"{op}: must be a number, not {json.dumps(arg)}")
        elif op == "in" and not isinstance(arg, list):
            raise MatcherError("in: must be an array of values")
        elif op == "exists" and not isinstance(arg, bool):
            raise MatcherError("exists: must be true or false")
        elif op == "matches":
            if not isinstance(arg, str):
                raise MatcherError("matches: must be a string (a regular expression)")
            try:
                re.compile(arg)
            except re.error as exc:
                raise MatcherError(f"matches: not a regular expression ({exc})") from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def equal(actual: Any, expected: Any) -> bool:
    """JSON equality: numbers by value, booleans only equal booleans, containers element-wise."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and actual == expected
    if _is_number(expected) and _is_number(actual):
        return bool(actual == expected)
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(equal(actual[k], v) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(equal(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return type(actual) is type(expected) and bool(actual == expected)


def matches(actual: Any, expected: Any) -> bool:
    """Does ``actual`` (``MISSING`` when the path found nothing) satisfy the matcher ``expected``?"""
    if not is_operator_table(expected):
        return actual is not MISSING and equal(actual, expected)
    for op, arg in expected.items():
        if op == "within":
            continue
        if op == "exists":
            if (actual is not MISSING) != arg:
                return False
            continue
        if actual is MISSING:
            return False
        if not _one(op, arg, actual, expected):
            return False
    return True


def _one(op: str, arg: Any, actual: Any, table: dict[str, Any]) -> bool:
    if op == "eq":
        return equal(actual, arg)
    if op == "ne":
        return not equal(actual, arg)
    if op == "in":
        return any(equal(actual, a) for a in arg)
    if op == "contains":
        if isinstance(actual, str):
            return isinstance(arg, str) and arg in actual
        if isinstance(actual, list):
            return any(equal(a, arg) for a in actual)
        if isinstance(actual, dict):
            return isinstance(arg, str) and arg in actual
        return False
    if op == "matches":
        text = actual if isinstance(actual, str) else json.dumps(actual)
        return re.search(arg, text) is not None
    if not _is_number(actual):
        return False
    if op == "approx":
        return bool(abs(actual - arg) <= float(table.get("within", 0.5)))
    return bool({"gt": actual > arg, "ge": actual >= arg, "lt": actual < arg, "le": actual <= arg}[op])


def describe(expected: Any) -> str:
    """``at least 3``, ``"POST"``, ``matching the regular expression "^00"`` (for reports)."""
    if not is_operator_table(expected):
        return json.dumps(expected)
    parts = []
    for op, arg in expected.items():
        if op == "within":
            continue
        if op == "exists":
            parts.append("present" if arg else "absent")
        elif op == "approx":
            parts.append(f"{arg} ± {expected.get('within', 0.5)}")
        else:
            parts.append(f"{OPERATORS[op]} {json.dumps(arg)}")
    return " and ".join(parts)


def show(actual: Any) -> str:
    if actual is MISSING:
        return "(absent)"
    text = json.dumps(actual, default=str)
    return text if len(text) <= 200 else text[:197] + "..."


# -- JsonPath ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Path:
    text: str
    compiled: Any

    def find(self, document: Any) -> Any:
        """The value at this path (the first match), or ``MISSING``."""
        found = self.compiled.find(document)
        return found[0].value if found else MISSING


_CACHE: dict[str, Path] = {}


def json_path(text: str) -> Path:
    """Compile a JsonPath (``$.a.b``, ``a.b``, ``$.items[0]``); MatcherError when it does not parse."""
    if text in _CACHE:
        return _CACHE[text]
    from jsonpath_ng import parse  # type: ignore[import-untyped]

    expr = text if text.startswith("$") else "$." + text
    try:
        compiled = parse(expr)
    except Exception as exc:  # jsonpath-ng raises plain Exceptions on bad syntax
        raise MatcherError(f"'{text}' is not a JsonPath ({exc})") from None
    _CACHE[text] = Path(text, compiled)
    return _CACHE[text]
