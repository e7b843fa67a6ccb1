"""Scalar coercion as the real IoT Flow server applies it to connection bodies.

The real server is a Java service that binds JSON with Jackson: its connector schemas carry Jackson's
``urn:jsonschema:com:actility:tpx:flow:...`` ids (actility/tpx-iot-flow-doc,
docs/Getting_Started/Setting_Up_A_Connection_instance/Creating_a_connection_instance_using_the_API.md).
Jackson's default binding (``ALLOW_COERCION_OF_SCALARS`` and ``ACCEPT_FLOAT_AS_INT`` on) is what a
body meets there, so the same values are accepted here:

- integer field: a JSON integer; a number-like string (``"1"``, surrounding blanks trimmed); a float,
  truncated (``1.9`` -> 1). ``""`` and ``null`` mean "not given". Anything else cannot be coerced.
- boolean field: ``true``/``false``; the strings ``"true"``/``"True"``/``"TRUE"`` and the false ones;
  an integer (0 is false, any other is true). ``""`` and ``null`` mean "not given".
- string field: a string; a number or boolean becomes its text (``5`` -> ``"5"``). Objects and
  arrays cannot be coerced.
- object and map fields: objects only; map values are coerced as their declared type.
"""

from __future__ import annotations

from typing import Any

from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.jsonwords import json_type

#: Java's int range: Jackson rejects a value outside it for an ``int``/``Integer`` field.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

TRUE_TEXT = {"true", "True", "TRUE"}
FALSE_TEXT = {"false", "False", "FALSE"}

#: Marks "not given" (``null`` or an empty string where Jackson reads it as null).
ABSENT = object()


def _fail(where: str, expected: str, value: Any) -> ApiProblem:
    shown = repr(value) if isinstance(value, str) else json_type(value)
    return ApiProblem(400, f"field '{where}' must be of type {expected} (got {shown})")


def to_integer(value: Any, where: str) -> Any:
    if value is None:
        return ABSENT
    if isinstance(value, bool):
        raise _fail(where, "integer", value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        number = int(value)  # Jackson's ACCEPT_FLOAT_AS_INT truncates
    elif isinstance(value, str):
        text = value.strip()
        if text == "":
            return ABSENT
        sign = text[:1] in "+-"
        if not text[int(sign) :].isdigit() or not text[int(sign) :].isascii():
            raise _fail(where, "integer", value)
        number = int(text)
    else:
        raise _fail(where, "integer", value)
    if not INT_MIN <= number <= INT_MAX:
        raise ApiProblem(400, f"field '{where}' is out of range for an integer")
    return number


def to_boolean(value: Any, where: str) -> Any:
    if value is None:
        return ABSENT
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        text = value.strip()
        if text == "":
            return ABSENT
        if text in TRUE_TEXT:
            return True
        if text in FALSE_TEXT:
            return False
    raise _fail(where, "boolean", value)


def scalar_text(value: Any) -> str | None:
    """A string, number or boolean as text (``5`` -> ``"5"``, ``true`` -> ``"true"``); None for
    anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return None


def to_string(value: Any, where: str) -> Any:
    if value is None:
        return ABSENT
    text = scalar_text(value)
    if text is None:
        raise _fail(where, "string", value)
    return text


def to_object(value: Any, where: str) -> Any:
    if value is None:
        return ABSENT
    if not isinstance(value, dict):
        raise _fail(where, "object", value)
    return value


def to_any(value: Any, where: str) -> Any:
    return ABSENT if value is None else value


COERCERS = {
    "integer": to_integer,
    "boolean": to_boolean,
    "string": to_string,
    "object": to_object,
    "any": to_any,
}


def coerce_object(
    data: dict[str, Any],
    fields: dict[str, Any],
    prefix: str,
    unknown: list[str],
) -> dict[str, Any]:
    """A copy of ``data`` with each known field coerced; keys ``fields`` does not know are kept as
    given and their paths appended to ``unknown``.

    ``fields`` maps a name to a type name, to ``("map", type)`` (an object whose values have that
    type) or to a nested ``fields`` dict (an object with known fields). ``None`` (ignored: read-only).
    """
    out: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{prefix}{key}"
        spec = fields.get(key, ...) if isinstance(key, str) else ...
        if spec is ...:
            unknown.append(where)
            out[key] = value
            continue
        if spec is None:
            continue
        if isinstance(spec, dict):
            obj = to_object(value, where)
            if obj is not ABSENT:
                out[key] = coerce_object(obj, spec, where + ".", unknown)
            continue
        if isinstance(spec, tuple):
            obj = to_object(value, where)
            if obj is ABSENT:
                continue
            coerce = COERCERS[spec[1]]
            mapped: dict[str, Any] = {}
            for name, item in obj.items():
                if item is None:
                    raise ApiProblem(400, f"field '{where}.{name}' must be of type {spec[1]} (got null)")
                coerced = coerce(item, f"{where}.{name}")
                mapped[name] = "" if coerced is ABSENT else coerced
            out[key] = mapped
            continue
        coerced = COERCERS[spec](value, where)
        if coerced is not ABSENT:
            out[key] = coerced
    return out
