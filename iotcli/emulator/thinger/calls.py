"""Endpoint calls: ``{{field}}`` placeholders, the outbound request, and how an attempt ends.

Placeholders [source]: ``{{field}}`` (dots reach into nested objects: ``{{gps.lat}}``) in the url, the
header values and a custom body; ``{{}}`` is the whole value. Text goes in as is, other values as JSON,
a missing field as an empty text [chosen]; in the url values are percent-encoded [chosen].
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from iotcli.delivery.outbox import DELIVERED, FAILED, AttemptResult, Decision, OutboundRequest

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
EMAIL_NOTE = "email endpoints are recorded in the delivery journal, not sent, by the emulator"


class EndpointError(Exception):
    """The endpoint's configuration cannot make a request (no url, bad method...)."""


def lookup(data: Any, path: str) -> Any:
    if path == "":
        return data
    value = data
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


def as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def render(template: str, data: Any, *, url: bool = False) -> str:
    """Replace every ``{{field}}`` in ``template`` with that field of ``data``."""

    def sub(match: re.Match[str]) -> str:
        text = as_text(lookup(data, match.group(1)))
        return quote(text, safe="") if url else text

    return PLACEHOLDER.sub(sub, template)


def _headers(config: dict[str, Any], data: Any) -> dict[str, str]:
    raw = config.get("headers") or []
    pairs: list[tuple[Any, Any]]
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = [(h.get("key"), h.get("value")) for h in raw if isinstance(h, dict)]
    else:
        raise EndpointError("config.headers must be a list of {key, value}")
    headers: dict[str, str] = {}
    for key, value in pairs:
        if not isinstance(key, str) or not key.strip():
            continue
        # No CR/LF from data: a placeholder must not add headers.
        text = render(as_text(value), data).replace("\r", " ").replace("\n", " ")
        headers[key.strip()] = text
    return headers


def _has_header(headers: dict[str, str], name: str) -> bool:
    return any(k.lower() == name for k in headers)


def http_request(doc: dict[str, Any], data: Any) -> OutboundRequest:
    """The request an ``http_request`` endpoint makes for ``data``."""
    config = doc.get("config") or {}
    url_template = config.get("url")
    if not isinstance(url_template, str) or not url_template.strip():
        raise EndpointError("its config has no url")
    url = render(url_template.strip(), data, url=True)
    if not url.lower().startswith(("http://", "https://")):
        raise EndpointError(f"its url '{url[:80]}' is not http:// or https://")
    method = str(config.get("method") or "POST").upper()
    if method not in METHODS:
        raise EndpointError(f"its method '{method[:16]}' is not one of {', '.join(sorted(METHODS))}")
    headers = _headers(config, data)
    body = b""
    if method != "GET":
        if config.get("body_type") == "custom":
            text = render(as_text(config.get("body")), data)
            body = text.encode("utf-8")
            if not _has_header(headers, "content-type"):
                try:
                    json.loads(text)
                    headers["Content-Type"] = "application/json"
                except ValueError:
                    headers["Content-Type"] = "text/plain; charset=utf-8"
        else:
            body = json.dumps(data).encode("utf-8")
            if not _has_header(headers, "content-type"):
                headers["Content-Type"] = "application/json"
    return OutboundRequest(method, url, headers, body)


def email_record(doc: dict[str, Any], data: Any) -> OutboundRequest:
    """How an email endpoint call shows in the delivery journal (nothing is sent)."""
    config = doc.get("config") or {}
    headers = {"Subject": render(as_text(config.get("subject")), data)}
    if config.get("reply_to"):
        headers["Reply-To"] = as_text(config.get("reply_to"))
    kind = "text/html" if config.get("body_type") == "html" else "text/plain"
    headers["Content-Type"] = f"{kind}; charset=utf-8"
    body = render(as_text(config.get("body")), data).encode("utf-8")
    return OutboundRequest("EMAIL", f"mailto:{as_text(config.get('recipient'))}", headers, body)


def recorded(req: OutboundRequest) -> AttemptResult:
    return AttemptResult(req, None, None, 0.0, None)


def outcome(result: AttemptResult) -> Decision:
    """One attempt per endpoint call [chosen]: a non-2xx answer or a network error is ``failed`` (replayable)."""
    if result.ok:
        return Decision(DELIVERED, reason=f"HTTP {result.status}")
    if result.status is not None:
        return Decision(FAILED, reason=f"HTTP {result.status}")
    return Decision(FAILED, reason=result.error or "no answer")
