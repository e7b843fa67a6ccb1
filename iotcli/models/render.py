"""One concrete HTTP request and its rendering as a shell command (curl, HTTPie).

Every printed command of iotcli comes from here: ``send-uplink --print curl|httpie``,
``device snippet --lang curl|httpie`` and the curl line of ``device create``. The commands carry what
they are given (a real token included: they are meant to be run); masking is the caller's business.
Each word is quoted for a POSIX shell (``shlex.quote``), so ``shlex.split`` of a command gives back
the request's method, URL, headers and body.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Prepared:
    """One concrete request, ready for the wire."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes | None

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


def body_text(body: bytes | None) -> str:
    """The body as text (UTF-8); binary bodies summarised."""
    if not body:
        return ""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return f"<{len(body)} bytes of binary data>"


def _expandable(text: str) -> str:
    """A shell word in double quotes, so that ``$VARIABLES`` in it expand (e.g. ``$DEVICE_TOKEN``)."""
    return '"' + text + '"'


def curl_command(
    request: Prepared,
    *,
    options: Sequence[tuple[str, str]] = (),
    data_option: str = "--data-raw",
    one_line: bool = False,
    expand: Collection[str] = (),
) -> str:
    """``curl -sS -X METHOD URL [OPTION VALUE]... [-H 'K: V']... [--data-raw BODY]``.

    ``options`` (e.g. ``("--cacert", path)``) come before the headers; ``expand`` names headers
    (lower case) whose value holds shell variables and is double-quoted instead. One option per line
    (joined with `` \\``), or all on one line.
    """
    groups = [f"curl -sS -X {request.method} {shlex.quote(request.url)}"]
    groups += [f"{flag} {shlex.quote(value)}" for flag, value in options]
    for k, v in request.headers:
        line = f"{k}: {v}"
        groups.append(f"-H {_expandable(line) if k.lower() in expand else shlex.quote(line)}")
    if request.body:
        groups.append(f"{data_option} {shlex.quote(body_text(request.body))}")
    return (" " if one_line else " \\\n  ").join(groups)


@functools.cache
def _item_key() -> re.Pattern[str]:
    """JSON object keys HTTPie takes as request items as they are (no nesting or escaping syntax);
    compiled on first use (only HTTPie commands need it)."""
    return re.compile(r"^[A-Za-z0-9_.-]+$")


def _item(key: str, value: Any) -> str:
    if isinstance(value, str):
        return shlex.quote(f"{key}={value}")
    return shlex.quote(f"{key}:={json.dumps(value, ensure_ascii=False, separators=(',', ':'))}")


def httpie_command(request: Prepared, *, options: Sequence[tuple[str, str]] = ()) -> str:
    """An HTTPie command: a JSON object body as items (``name=text``, ``name:=json``), others with ``--raw``.

    ``options`` (e.g. ``("--verify", path)``) come before the method, as ``--flag=value``.
    """
    ctype = request.header("Content-Type")
    parts = ["http", "--ignore-stdin"]
    parts += [f"{flag}={shlex.quote(value)}" for flag, value in options]
    parts += [request.method, shlex.quote(request.url)]
    items: list[str] | None = None
    raw: str | None = None
    if request.body:
        text = body_text(request.body)
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = None
        if (
            isinstance(value, dict)
            and all(_item_key().fullmatch(k) for k in value)
            and ctype == "application/json"
        ):
            items = [_item(k, v) for k, v in value.items()]
        else:
            raw = text
    for k, v in request.headers:
        if items is not None and k.lower() == "content-type":
            continue  # HTTPie sends JSON items as application/json itself
        parts.append(shlex.quote(f"{k}:{v}"))
    if raw is not None:
        parts.insert(2, f"--raw {shlex.quote(raw)}")
    parts += items or []
    return " ".join(parts)
