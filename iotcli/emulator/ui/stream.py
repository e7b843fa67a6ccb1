"""The inspector's live stream: the one shared event journal as batched Server-Sent Events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from iotcli.emulator.events import CLOSED
from iotcli.emulator.ui.security import HEADERS, cross_site
from iotcli.emulator.ui.web import emu_of, sessions

#: The live stream sends at most one batch per this many seconds, of at most ``STREAM_BATCH``
#: events: an open page costs the emulator a few writes a second, whatever the load.
STREAM_EVERY = 0.25
STREAM_BATCH = 50
SSE_KEEPALIVE = 15.0


async def stream(request: Request) -> Response:
    """The one shared event stream, as Server-Sent Events batches: ``data: [event, ...]``."""
    if cross_site(request) is not None or sessions(request).of(request) is None:
        return Response("log in to the inspector first\n", status_code=401, headers=HEADERS)
    emu = emu_of(request)
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
                skipped = max(0, len(batch) - STREAM_BATCH)
                shown = batch[-STREAM_BATCH:]
                yield f"id: {shown[-1]['id']}\ndata: {json.dumps({'events': shown, 'skipped': skipped})}\n\n"
                await asyncio.sleep(STREAM_EVERY)
        finally:
            emu.events.unfollow(queue)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={**HEADERS, "X-Accel-Buffering": "no"},
    )
