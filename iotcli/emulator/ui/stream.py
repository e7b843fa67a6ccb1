"""The inspector's live stream: the one shared event journal as batched Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from iotcli.emulator.events import CLOSED
from iotcli.emulator.ui.security import HEADERS, cross_site
from iotcli.emulator.ui.web import emu_of, sessions

#: The live stream sends at most one batch per this many seconds, of at most ``STREAM_BATCH``
#: events: an open page costs the emulator (and the browser) a couple of small writes a second,
#: whatever the load. The events page shows each batch as it comes (no second buffer in the browser).
STREAM_EVERY = 0.5
STREAM_BATCH = 20
SSE_KEEPALIVE = 15.0


def matches(kind: str, prefixes: tuple[str, ...]) -> bool:
    return any(kind == p or kind.startswith(p + ".") for p in prefixes)


def batch_message(
    batch: list[dict[str, Any]], live: tuple[str, ...] | None, kind: str | None
) -> dict[str, Any] | None:
    """What one batch tells the page, or None when nothing in it concerns the page.

    Without ``live`` (the page's ``data-live``): every event, as before. With it: the events themselves
    only for the event journal's page ("events", with its ``kind`` filter), and for the other pages only
    ``changed`` (they reload their content): a page that follows devices under load gets a few bytes.
    """
    if live is None:
        shown = batch
        changed = True
    else:
        shown = [e for e in batch if not kind or matches(e["kind"], (kind,))] if "events" in live else []
        others = tuple(p for p in live if p != "events")
        changed = bool(others) and any(matches(e["kind"], others) for e in batch)
        if not shown and not changed:
            return None
    skipped = max(0, len(shown) - STREAM_BATCH)
    return {"events": shown[-STREAM_BATCH:], "skipped": skipped, "changed": changed}


async def stream(request: Request) -> Response:
    """The one shared event stream, as Server-Sent Events batches: ``data: {"events": [...], ...}``.

    ``?live=`` the page's kind prefixes (its ``data-live``), ``?kind=`` the event page's filter.
    """
    if cross_site(request) is not None or sessions(request).of(request) is None:
        return Response("log in to the inspector first\n", status_code=401, headers=HEADERS)
    emu = emu_of(request)
    raw_live = request.query_params.get("live")
    live = None if raw_live is None else tuple(raw_live.replace(",", " ").split()[:16])
    kind = (request.query_params.get("kind") or "")[:64] or None
    queue = emu.events.follow()

    async def body() -> AsyncIterator[str]:
        try:
            yield ": following\n\n"
            while True:
                try:
                    first = await asyncio.wait_for(queue.get(), timeout=SSE_KEEPALIVE)
                except TimeoutError:
                    if await request.is_disconnected():
                        break
                    yield ": keep-alive\n\n"
                    continue
                batch = [first]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                if any(e is CLOSED for e in batch) or not emu.events.following(queue) and queue.empty():
                    yield ": end\n\n"
                    break
                message = batch_message(batch, live, kind)
                if message is not None:  # else nothing for this page: no write
                    yield f"id: {batch[-1]['id']}\ndata: {json.dumps(message)}\n\n"
                await asyncio.sleep(STREAM_EVERY)  # the events meanwhile make the next batch
        finally:
            emu.events.unfollow(queue)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={**HEADERS, "X-Accel-Buffering": "no"},
    )
