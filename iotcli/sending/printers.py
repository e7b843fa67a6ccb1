"""The equivalent command or code of a request (--print curl|httpie|python) and its display (--dry-run, -v).

curl and HTTPie commands come from the one renderer, ``iotcli.models.render``; here the headers every
client sets on its own are left out first.

The printed commands carry the real token: they are meant to be run. Displays (dry-run, -v,
--json records) mask credentials.
"""

from __future__ import annotations

import json
from typing import Any

from iotcli.models import render
from iotcli.models.masking import mask_header_value as mask_value
from iotcli.models.masking import mask_url as mask_url
from iotcli.models.render import Prepared, body_text
from iotcli.sending.request import USER_AGENT

# Headers that every client sets on its own: left out of printed commands to keep them short.
IMPLICIT = {"user-agent", "accept", "host", "content-length", "accept-encoding", "connection"}
PRINTERS = ("curl", "httpie", "python")


def mask_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(k, mask_value(k, v)) for k, v in headers]


def pretty_body(body: bytes | None) -> str:
    """JSON pretty-printed; other text as is; binary summarised."""
    text = body_text(body)
    if not text.strip():
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def describe(request: Prepared) -> str:
    """The request as it goes on the wire (credentials masked): request line, headers, body."""
    lines = [f"{request.method} {mask_url(request.url)}"]
    lines += [f"{k}: {v}" for k, v in mask_headers(request.headers)]
    body = pretty_body(request.body)
    if body:
        lines += ["", body]
    return "\n".join(lines)


def _explicit(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    out = []
    for k, v in headers:
        if k.lower() in IMPLICIT and not (k.lower() == "user-agent" and v != USER_AGENT):
            continue
        out.append((k, v))
    return out


def to_curl(request: Prepared) -> str:
    return render.curl_command(
        Prepared(request.method, request.url, _explicit(request.headers), request.body)
    )


def to_httpie(request: Prepared) -> str:
    """An HTTPie command: JSON object bodies as items (name=text, name:=json), others with --raw."""
    return render.httpie_command(
        Prepared(request.method, request.url, _explicit(request.headers), request.body)
    )


def to_python(request: Prepared) -> str:
    """A small httpx script that sends the request and prints the answer."""
    headers = {k: v for k, v in _explicit(request.headers)}
    body_arg = ""
    if request.body:
        text = body_text(request.body)
        try:
            value = json.loads(text)
            if headers.get("Content-Type") == "application/json":
                del headers["Content-Type"]  # json= sets it
            body_arg = f"    json={_py(value)},\n"
        except ValueError:
            body_arg = f"    content={text!r}.encode(),\n"
    header_lines = "".join(f"        {k!r}: {v!r},\n" for k, v in headers.items())
    return (
        "import httpx\n\n"
        "response = httpx.request(\n"
        f"    {request.method!r},\n"
        f"    {request.url!r},\n"
        "    headers={\n"
        f"{header_lines}"
        "    },\n"
        f"{body_arg}"
        "    timeout=10,\n"
        ")\n"
        "print(response.status_code, response.reason_phrase)\n"
        "print(response.text)\n"
        "response.raise_for_status()\n"
    )


def _py(value: Any) -> str:
    """A JSON value as Python source (True/False/None, not true/false/null)."""
    return repr(value)


def render_print(kind: str, request: Prepared) -> str:
    if kind == "curl":
        return to_curl(request)
    if kind == "httpie":
        return to_httpie(request)
    return to_python(request)
