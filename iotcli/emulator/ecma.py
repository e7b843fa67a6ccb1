"""ECMA-262 ``$`` for the JSON Schema patterns the emulator checks with Python's ``re``.

JSON Schema patterns are ECMA-262 regular expressions, where ``$`` (no ``m`` flag) matches only at
the end of the input. jsonschema runs them with Python's ``re.search``, where ``$`` also matches
before a final newline: ``^[a-zA-Z0-9_-]{1,32}$`` lets ``"abc\\n"`` through. ``(?![\\s\\S])`` means
"end of input" in both dialects (the ending the IoT Flow schemas use, ``iotflow/fields.py``), so a
document whose patterns end that way says the same to an ECMA reader and to the server.
"""

from __future__ import annotations

from typing import Any

#: The end of the input, in ECMA-262 and in Python alike.
END = r"(?![\s\S])"


def python_pattern(pattern: str) -> str:
    """``pattern`` with every ``$`` anchor (not escaped, not in a character class) written ``(?![\\s\\S])``."""
    out: list[str] = []
    in_class = escaped = False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "$":
            out.append(END)
            continue
        out.append(ch)
    return "".join(out)


def python_document(schema: Any) -> Any:
    """A copy of a JSON Schema (or an OpenAPI document) whose ``pattern`` values and
    ``patternProperties`` names mean for Python's ``re`` what they mean in ECMA-262."""
    if isinstance(schema, list):
        return [python_document(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "pattern" and isinstance(value, str):
            out[key] = python_pattern(value)
        elif key == "patternProperties" and isinstance(value, dict):
            out[key] = {python_pattern(name): python_document(sub) for name, sub in value.items()}
        else:
            out[key] = python_document(value)
    return out
