"""HTTPie-style request items: ``temp:=21.5 name=kitchen on:=true 'X-Site:A' ts==1700000000000``.

=========  =====================================  ================================
item       meaning                                example
=========  =====================================  ================================
k=v        JSON string field                      ``name=kitchen``
k:=json    raw JSON field (number, bool, object)  ``temp:=21.5``  ``tags:='["a"]'``
k=@file    string field read from a file          ``note=@note.txt``
k:=@file   JSON field read from a file            ``cfg:=@cfg.json``
K:v        request header                         ``X-Site:A``
k==v       URL query parameter                    ``ts==1700000000000``
=========  =====================================  ================================

Field names may be nested: ``a[b]=x`` -> ``{"a": {"b": "x"}}``, ``a[]=x`` appends to a list,
``a[0]=x`` sets a list index. A backslash escapes a separator in a name (``a\\=b=c``).
Values may hold body placeholders (``t:={{random:15:25}}``).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from iotcli.errors import UsageError
from iotcli.sending.template import RawJson, has_placeholder, sample

# Longest first so that ':=' wins over ':' and '==' over '=' at the same position.
SEPARATORS = (":=@", "=@", "==", ":=", "=", ":")


@functools.cache
def _header_name() -> re.Pattern[str]:
    """An HTTP header name (a token); compiled on first use: most command lines have no header item."""
    return re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class ParsedItems:
    """What the items say: a JSON body (None: no body items), headers, query parameters.
    (A plain class, as every class a single send creates: see ``iotcli.sending``.)"""

    def __init__(self) -> None:
        self.body: dict[str, Any] | None = None
        self.headers: list[tuple[str, str]] = []
        self.query: list[tuple[str, str]] = []


def split_item(item: str) -> tuple[str, str, str]:
    """(key, separator, value) of one item; the first unescaped separator wins."""
    i = 0
    key_chars: list[str] = []
    while i < len(item):
        ch = item[i]
        if ch == "\\" and i + 1 < len(item):
            key_chars.append(item[i + 1])
            i += 2
            continue
        for sep in SEPARATORS:
            if item.startswith(sep, i):
                return "".join(key_chars), sep, item[i + len(sep) :]
        key_chars.append(ch)
        i += 1
    raise UsageError(
        f"item '{item}' has no separator",
        hint="use name=text, name:=json, Header:value or param==value (e.g. temp:=21.5 name=kitchen)",
    )


def parse_items(items: list[str], *, base_dir: Path | None = None) -> ParsedItems:
    """Parse HTTPie-style items into a JSON body, headers and query parameters.

    Raises UsageError naming the offending item (exit code 2).
    """
    parsed = ParsedItems()
    for item in items:
        key, sep, value = split_item(item)
        if not key:
            raise UsageError(f"item '{item}': the name before '{sep}' is empty")
        if sep == ":":
            if not _header_name().fullmatch(key):
                raise UsageError(f"item '{item}': '{key}' is not a valid header name")
            parsed.headers.append((key, value.strip()))
            continue
        if sep == "==":
            parsed.query.append((key, value))
            continue
        if sep in ("=@", ":=@"):
            path = Path(value).expanduser()
            if base_dir is not None and not path.is_absolute():
                path = base_dir / path
            try:
                value = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise UsageError(f"item '{item}': cannot read {value}: {exc.strerror or exc}") from None
            except UnicodeDecodeError:
                raise UsageError(f"item '{item}': {value} is not UTF-8 text") from None
        if sep in (":=", ":=@"):
            field_value: Any = _json_value(item, value)
        else:
            field_value = value
        if parsed.body is None:
            parsed.body = {}
        _assign(parsed.body, _key_path(item, key), field_value, item)
    return parsed


def _json_value(item: str, text: str) -> Any:
    if has_placeholder(text):
        try:
            json.loads(sample(text))
        except ValueError as exc:
            raise UsageError(f"item '{item}': value is not JSON ({exc})") from None
        return RawJson(text.strip())
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(
            f"item '{item}': value is not JSON ({exc})",
            hint='use name=text for a string; quote JSON for the shell: tags:=\'["a","b"]\'',
        ) from None


def _key_path(item: str, key: str) -> list[str | int | None]:
    """``a[b][0][]`` -> ['a', 'b', 0, None] (None = append)."""
    if "[" not in key and "]" not in key:
        return [key]  # a plain name (what the pattern below would say, without compiling it)
    m = re.fullmatch(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$", key)
    if not m:
        if "[" in key or "]" in key:
            raise UsageError(f"item '{item}': bad nested name '{key}' (use a[b]=x, a[]=x or a[0]=x)")
        return [key]
    path: list[str | int | None] = [m.group(1)]
    for part in re.findall(r"\[([^\[\]]*)\]", m.group(2)):
        if part == "":
            path.append(None)
        elif part.isdigit():
            path.append(int(part))
        else:
            path.append(part)
    return path


def _assign(root: dict[str, Any], path: list[str | int | None], value: Any, item: str) -> None:
    node: Any = root
    for pos, step in enumerate(path):
        last = pos == len(path) - 1
        nxt = None if last else path[pos + 1]
        fresh: Any = None if last else ([] if nxt is None or isinstance(nxt, int) else {})
        if isinstance(step, str):
            if not isinstance(node, dict):
                raise UsageError(f"item '{item}': '{step}' names a field inside a list")
            if last:
                node[step] = value
                return
            if step not in node:
                node[step] = fresh
            node = node[step]
            if not isinstance(node, dict | list):
                raise UsageError(f"item '{item}': '{step}' is already a value, not an object or list")
            continue
        if not isinstance(node, list):
            raise UsageError(f"item '{item}': [] or [N] used on an object")
        if step is None:
            node.append(value if last else fresh)
            node = node[-1]
        else:
            if step > len(node):
                raise UsageError(f"item '{item}': index {step} skips list positions (list has {len(node)})")
            if step == len(node):
                node.append(value if last else fresh)
            elif last:
                node[step] = value
            node = node[step]
        if last:
            return
        if not isinstance(node, dict | list):
            raise UsageError(f"item '{item}': position is already a value, not an object or list")
