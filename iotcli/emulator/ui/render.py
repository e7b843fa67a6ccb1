"""Jinja2 rendering of the inspector's pages (autoescaped; filters for times and JSON)."""

from __future__ import annotations

import json
import time
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from iotcli.emulator.ui.security import HEADERS, Session

PREFIX = "/_emulator/ui"

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("iotcli.emulator.ui", "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


def ms_to_iso(value: Any) -> str:
    """Epoch ms -> ``2026-12-01 21:52:17.123`` (UTC); empty for none."""
    if value is None or value == "":
        return ""
    try:
        ms = int(value)
    except (TypeError, ValueError):
        return str(value)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def pretty_body(text: Any) -> str:
    """A body as sent: JSON indented for reading, anything else as it is."""
    if text is None:
        return ""
    if not isinstance(text, str):
        return pretty_json(text)
    try:
        return pretty_json(json.loads(text))
    except ValueError:
        return text


def event_summary(event: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in event.items() if k not in ("id", "ts", "kind"))[:300]


_env.filters.update(ms=ms_to_iso, json=pretty_json, body=pretty_body, summary=event_summary)
_env.globals["prefix"] = PREFIX


def page(
    request: Request, template: str, session: Session | None, status: int = 200, **context: Any
) -> HTMLResponse:
    flash = []
    if session is not None:
        flash, session.flash = session.flash, []
    html = _env.get_template(template).render(
        request=request,
        path=request.url.path,
        csrf=session.csrf if session else "",
        logged_in=session is not None,
        flash=flash,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)
