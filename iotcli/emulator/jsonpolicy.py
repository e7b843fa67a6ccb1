"""The one JSON policy at the emulator's edge: what a request body may hold.

Every body is decoded here (``decode``), on every surface, before anything is stored or forwarded:

- NaN and Infinity are refused (Python's parser takes them; JSON, RFC 8259, does not);
- numbers must be finite doubles (|x| <= 1.7976931348623157e308, integers included): ``1e400`` or an
  integer of 400 digits cannot be written back as JSON by the real platform (its parser refuses them),
  and Python could not even read back integers over 4,300 digits;
- strings and keys must be valid Unicode: a ``\\ud800`` escape without its pair decodes to a lone
  surrogate, which no UTF-8 answer can carry (every later read of the stored value would fail).

The checks cost next to nothing on good bodies: numbers are checked as they are parsed, and strings
are only walked when the text holds a surrogate escape at all.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import sys
from typing import Any

#: The largest magnitude a JSON number may have: the largest finite double.
MAX_MAGNITUDE = sys.float_info.max
#: Integers with more digits than this are beyond MAX_MAGNITUDE (309 digits) whatever they are.
_MAX_INT_DIGITS = 309

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonRejected(ValueError):
    """A body that is not JSON (``syntax``) or is JSON the policy refuses (``syntax`` False).

    ``message`` is plain words naming the field (its path) where there is one.
    """

    def __init__(self, message: str, *, syntax: bool) -> None:
        super().__init__(message)
        self.message = message
        self.syntax = syntax


class _OutOfRange(ValueError):
    pass


class _Constant(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _Constant(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _OutOfRange(text)
    return value


def _int(text: str) -> int:
    digits = len(text) - (text[0] == "-")
    if digits < _MAX_INT_DIGITS:
        return int(text)
    if digits > _MAX_INT_DIGITS or abs(int(text)) > MAX_MAGNITUDE:
        raise _OutOfRange(text)
    return int(text)


#: Integers are parsed by the C scanner (a Python hook per integer cost a third more on the hot path);
#: the few bodies long enough to hold a 309-digit run are checked after decoding.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_float)
_LONG_DIGITS = re.compile(f"[0-9]{{{_MAX_INT_DIGITS}}}")


class _Bad:
    """Stands for an out-of-range number while a rejected body is decoded again to find its path."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def _mark_float(text: str) -> Any:
    return _Bad(text) if math.isinf(float(text)) else 0.0


def _mark_int(text: str) -> Any:
    try:
        return _int(text)
    except _OutOfRange:
        return _Bad(text)


_MARKING = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_mark_float, parse_int=_mark_int)


def decode(text: str) -> Any:
    """Decode ``text`` under the policy, or raise ``JsonRejected`` saying what is wrong and where."""
    try:
        value = _DECODER.decode(text)
    except _Constant as exc:
        raise JsonRejected(str(exc), syntax=True) from None
    except _OutOfRange:
        raise _number_problem(text) from None
    except json.JSONDecodeError as exc:
        raise JsonRejected(f"{exc.msg} at line {exc.lineno} column {exc.colno}", syntax=True) from None
    except RecursionError:
        raise JsonRejected("nested too deeply", syntax=True) from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # over 4,300 digits: Python's own limit
            raise _number_problem(text) from None
        raise JsonRejected(str(exc) or "not JSON", syntax=True) from None
    if len(text) >= _MAX_INT_DIGITS and _LONG_DIGITS.search(text):
        problem = find_problem(value)
        if problem is not None:
            raise JsonRejected(problem, syntax=False)
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        problem = find_problem(value)
        if problem is not None:
            raise JsonRejected(problem, syntax=False)
    return value


def _number_problem(text: str) -> JsonRejected:
    try:
        marked = _MARKING.decode(text)
    except (ValueError, RecursionError):  # pragma: no cover - the first parse got past these
        marked = None
    problem = find_problem(marked) if marked is not None else None
    return JsonRejected(problem or "a number is out of range (must be a finite double)", syntax=False)


def field_name(path: str) -> str:
    return f"field '{path}'" if path else "the body"


def find_problem(value: Any, path: str = "") -> str | None:
    """The first value the policy refuses inside ``value`` (already decoded), as a message naming its path.

    Also used for values that did not come from ``decode`` (stored rows older versions wrote).
    """
    if isinstance(value, str):
        if not _valid_unicode(value):
            return f"{field_name(path)} is not valid Unicode (a lone surrogate such as \\ud800)"
        return None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"{field_name(path)} is not a finite number"
        return None
    if isinstance(value, int):
        if abs(value) > MAX_MAGNITUDE:
            return f"{field_name(path)} is out of range: numbers must be finite doubles (up to 1.8e308)"
        return None
    if isinstance(value, _Bad):
        shown = value.text if len(value.text) <= 24 else f"{value.text[:12]}...({len(value.text)} digits)"
        return f"{field_name(path)} is out of range: {shown} (numbers must be finite doubles, up to 1.8e308)"
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and not _valid_unicode(key):
                return f"a key in {field_name(path)} is not valid Unicode (a lone surrogate such as \\ud800)"
            problem = find_problem(item, sub)
            if problem is not None:
                return problem
        return None
    if isinstance(value, list):
        for i, item in enumerate(value):
            problem = find_problem(item, f"{path}[{i}]")
            if problem is not None:
                return problem
    return None


def _valid_unicode(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- rows older versions stored ---------------------------------------------------------------------

#: Set in ``meta`` once a data dir has been checked: new versions never store what the policy refuses.
CHECKED_KEY = "json_policy_checked"

#: SQL prefilter for JSON text that may hold what the policy refuses (rows it lets through are then
#: decoded and checked in Python): a ``\\u`` escape, an exponent, NaN/Infinity, a 300-digit run.
_SUSPECT = (
    "({c} LIKE '%\\u%' OR {c} GLOB '*[0-9][eE]*' OR {c} GLOB '*NaN*' OR {c} GLOB '*Infinity*'"
    " OR {c} GLOB '*" + "[0-9]" * 300 + "*')"
)


def _lenient(text: str) -> Any:
    """Decode stored JSON the way older versions' readers did (NaN, 1e400 and lone surrogates pass)."""
    return json.JSONDecoder(parse_int=_mark_int).decode(text)


def _repaired(value: Any) -> Any:
    """``value`` with lone surrogates as U+FFFD and numbers out of range as null."""
    if isinstance(value, str):
        return value if _valid_unicode(value) else _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, _Bad):
        return None
    if isinstance(value, dict):
        return {_repaired(k): _repaired(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_repaired(v) for v in value]
    return value


def repair_stored(conn: sqlite3.Connection) -> list[str]:
    """Repair JSON columns holding values the policy refuses (written by versions before it): lone
    surrogates become U+FFFD, non-finite or out-of-range numbers become null, so every row can be read
    and answered again. Runs once per data dir; returns one line per table it changed."""
    if conn.execute("SELECT 1 FROM meta WHERE key = ?", (CHECKED_KEY,)).fetchone() is not None:
        return []
    report = []
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    for table in tables:
        info = list(conn.execute(f'PRAGMA table_info("{table}")'))
        # The row's key: its rowid, or (a WITHOUT ROWID table) its primary key columns.
        without_rowid = (
            (conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0] or "")
            .upper()
            .replace(" ", "")
            .endswith("WITHOUTROWID")
        )
        keys = [f'"{r[1]}"' for r in sorted(info, key=lambda r: r[5]) if r[5]] if without_rowid else ["rowid"]
        changed = 0
        for column in (r[1] for r in info):
            c = f'"{column}"'
            where = f"typeof({c}) = 'text' AND substr({c}, 1, 1) IN ('{{', '[') AND " + _SUSPECT.format(c=c)
            select = f'SELECT {", ".join(keys)}, {c} FROM "{table}" WHERE {where}'
            for *key, text in conn.execute(select).fetchall():
                try:
                    value = _lenient(text)
                except (ValueError, RecursionError):
                    continue  # not JSON at all: not ours to judge
                if find_problem(value) is None:
                    continue
                match = " AND ".join(f"{k} = ?" for k in keys)
                conn.execute(
                    f'UPDATE "{table}" SET {c} = ? WHERE {match}', (json.dumps(_repaired(value)), *key)
                )
                changed += 1
        if changed:
            report.append(
                f"{table}: {changed} value(s) an older version stored could not be read back; repaired"
            )
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?, '1') ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        (CHECKED_KEY,),
    )
    return report
