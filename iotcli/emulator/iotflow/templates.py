"""Header pattern expressions, rendered per message.

A header value may hold expressions in braces: ``{DevEUI}``, ``{FPort}``, any field name or path of the
message object (``{CustomerData.name}``, with list indexes ``{CustomerData.tags[0]}`` as
About_connections.md, "Pattern expression", writes them [source]), a JsonPath on the whole body
(``{$.DevEUI_uplink.CustomerData.name}``, via jsonpath-ng), and fallbacks separated by ``|``
(``{CustomerData.name|DevEUI|'None'}``): the first token that yields a value wins; a quoted token is a
literal. An expression where nothing matches renders as an empty string [chosen].
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JsonPathParserError
from jsonpath_ng.ext import parse as jsonpath_parse

from iotcli.emulator.iotflow.coercion import scalar_text

EXPRESSION = re.compile(r"\{([^{}]*)\}")
_MISSING = object()


@lru_cache(maxsize=512)
def _compiled(path: str) -> JSONPath | None:
    try:
        return jsonpath_parse(path)
    except (JsonPathParserError, Exception):  # noqa: BLE001 - a bad path simply matches nothing
        return None


def _split_tokens(expression: str) -> list[str]:
    """Split on ``|`` outside quotes."""
    tokens, current, quote = [], "", ""
    for ch in expression:
        if quote:
            current += ch
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
            current += ch
        elif ch == "|":
            tokens.append(current.strip())
            current = ""
        else:
            current += ch
    tokens.append(current.strip())
    return tokens


#: One step of a field path: ``name``, ``[0]`` or ``['name']`` / ``["name"]``.
PATH_STEP = re.compile(r"""\.?([^.\[\]]+)|\[\s*(-?\d+)\s*\]|\[\s*(['"])(.*?)\3\s*\]""")


@lru_cache(maxsize=512)
def _steps(path: str) -> tuple[str | int, ...] | None:
    """``CustomerData.tags[0]`` -> ``("CustomerData", "tags", 0)``; None if it is not a field path."""
    steps: list[str | int] = []
    pos = 0
    while pos < len(path):
        match = PATH_STEP.match(path, pos)
        if match is None or match.end() == pos:
            return None
        name, index, _quote, quoted = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(quoted if quoted is not None else name)
        pos = match.end()
    return tuple(steps) if steps else None


def _dotted(obj: Any, path: str) -> Any:
    """A field path (dots, ``[index]``, ``['key']``) in ``obj``; a digit step also indexes a list."""
    steps = _steps(path)
    if steps is None:
        return _MISSING
    node = obj
    for step in steps:
        if isinstance(step, int):
            if isinstance(node, list) and -len(node) <= step < len(node):
                node = node[step]
                continue
            step = str(step)
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.isdigit() and int(step) < len(node):
            node = node[int(step)]
        else:
            return _MISSING
    return node


def _resolve(token: str, document: dict[str, Any], inner: dict[str, Any]) -> Any:
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    if not token:
        return _MISSING
    if token.startswith("$"):
        compiled = _compiled(token)
        if compiled is None:
            return _MISSING
        matches = compiled.find(document)
        return matches[0].value if matches else _MISSING
    value = _dotted(inner, token)
    if value is _MISSING:
        value = _dotted(document, token)
    return value


def _text(value: Any) -> str:
    text = scalar_text(value)
    return text if text is not None else json.dumps(value, separators=(",", ":"))


def render_value(template: str, document: dict[str, Any], inner: dict[str, Any] | None = None) -> str:
    """Render every ``{...}`` expression of one header value."""
    if "{" not in template:
        return template
    inner = inner if inner is not None else document

    def substitute(match: re.Match[str]) -> str:
        for token in _split_tokens(match.group(1)):
            value = _resolve(token, document, inner)
            if value is not _MISSING and value is not None:
                return _text(value)
        return ""

    rendered = EXPRESSION.sub(substitute, template)
    # A header value never carries a line break, whatever the message held.
    rendered = rendered.replace("\r", " ").replace("\n", " ")
    problem = header_value_problem(rendered)
    if problem is not None:
        raise HeaderRenderError(f"rendered header value {problem}")
    return rendered


class HeaderRenderError(ValueError):
    """A header template rendered to a value HTTP cannot carry (a control byte, a non-Latin-1 character)."""


#: Control bytes a header value must not hold (tab is allowed, RFC 9110 field-value).
_HEADER_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def header_value_problem(value: str) -> str | None:
    """Why ``value`` cannot be sent as an HTTP header value, or None."""
    bad = _HEADER_CONTROL.search(value)
    if bad is not None:
        return f"holds the control character {bad.group()!r} at position {bad.start()}"
    try:
        value.encode("latin-1")
    except UnicodeEncodeError as exc:
        return (
            f"holds {value[exc.start]!r} at position {exc.start}: header values must be Latin-1 (ISO-8859-1)"
        )
    return None


def render_headers(
    headers: dict[str, str], document: dict[str, Any], inner: dict[str, Any] | None = None
) -> dict[str, str]:
    """Every header of a connection rendered for one message.

    ``document`` is the wrapped message (``{"DevEUI_uplink": {...}}``), ``inner`` the object inside it.
    """
    out = {}
    for name, value in headers.items():
        try:
            out[name] = render_value(value, document, inner)
        except HeaderRenderError as exc:
            raise HeaderRenderError(f"header '{name}': {exc}") from None
    return out
