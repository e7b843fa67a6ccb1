"""The words the emulator's 400s use for JSON, on every surface: a value's type, and the property a
JSON Schema ``required`` error names.

The IoT Flow connection checks (Jackson-like coercion, ``iotflow/coercion.py``, and the connector
schema) and the Thinger request schemas (``thinger/validation.py``) word their errors with these, so a
body gets the same type names whichever surface refuses it.
"""

from __future__ import annotations

from typing import Any

from jsonschema.exceptions import ValidationError


def json_type(value: Any, *, integers: bool = False) -> str:
    """The JSON type of a decoded value: ``null``, ``boolean``, ``number``, ``string``, ``array`` or
    ``object``; with ``integers``, a whole number is ``integer`` (JSON Schema's names)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer" if integers else "number"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def missing_property(error: ValidationError, default: str) -> str:
    """The property a ``required`` error is about (jsonschema words it ``'name' is a required
    property``); ``default`` when the message names none."""
    message = str(error.message)
    return message.split("'")[1] if "'" in message else default
