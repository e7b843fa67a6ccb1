"""The emulator's own routes under /_emulator: health, reset, clock, events, delivery journal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from iotcli.delivery.outbox import FINAL
from iotcli.emulator import deliveries
from iotcli.emulator.core import Emulator
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.events import CLOSED, FOLLOWER_QUEUE
from iotcli.emulator.http import ok, query_int, read_json_object
from iotcli.emulator.routing import RouteTable

routes = RouteTable("emulator", tag="emulator")

#: Seconds between keep-alive comments on an idle event stream.
SSE_KEEPALIVE = 15.0


def emu_of(request: Request) -> Emulator:
    emu: Emulator = request.app.state.emu
    return emu


@routes.get("/_emulator/health", summary="Liveness and version (no auth)", auth=False)
async def health(request: Request) -> Response:
    return ok(emu_of(request).health())


@routes.post("/_emulator/reset", summary="Wipe all state except the account")
async def reset(request: Request) -> Response:
    emu = emu_of(request)
    await emu.auth.account(request)
    await emu.reset()
    return ok({"status": "reset"})


@routes.get("/_emulator/clock", summary="Read the emulator clock")
async def clock(request: Request) -> Response:
    emu = emu_of(request)
    await emu.auth.account(request)
    return ok(emu.clock.to_dict())


ADVANCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["seconds"],
    "additionalProperties": False,
    "properties": {
        "seconds": {
            "type": "number",
            "minimum": 0,
            "maximum": 10 * 365 * 86400,
            "description": "emulated seconds to jump forward (at most 10 years)",
        }
    },
}


@routes.post("/_emulator/clock/advance", summary="Move the emulator clock forward", body=ADVANCE_SCHEMA)
async def advance(request: Request) -> Response:
    emu = emu_of(request)
    await emu.auth.account(request)
    body = await read_json_object(request)
    unknown = set(body) - {"seconds"}
    if unknown:
        raise ApiProblem(400, f"unknown field '{sorted(unknown)[0]}'")
    seconds = body.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ApiProblem(400, "field 'seconds' is required and must be a number")
    if seconds < 0 or seconds != seconds or seconds > 10 * 365 * 86400:
        raise ApiProblem(400, "field 'seconds' must be between 0 and 10 years")
    await emu.advance_clock(float(seconds))
    return ok(emu.clock.to_dict())


@routes.get(
    "/_emulator/events",
    summary="Event journal; ?follow=1 streams it as Server-Sent Events",
    query={
        "follow": "1 to stream",
        "after": {
            "type": "integer",
            "minimum": 0,
            "maximum": 2**63 - 1,
            "description": "only events with a larger id",
        },
        "kind": "kind or kind prefix",
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10_000,
            "description": "at most this many (default 100, max 10000)",
        },
    },
)
async def events(request: Request) -> Response:
    emu = emu_of(request)
    await emu.auth.account(request)
    after = query_int(request, "after", None, minimum=0)
    limit = query_int(request, "limit", 100, minimum=1, maximum=10_000) or 100
    kind = request.query_params.get("kind") or None
    follow = request.query_params.get("follow", "").lower() in {"1", "true", "yes"}
    if not follow:
        return ok(await emu.events.list(after=after, kind=kind, limit=limit))

    queue = emu.events.follow()
    backlog = await emu.events.list(after=after, kind=kind, limit=limit) if after is not None else []

    async def stream() -> AsyncIterator[str]:
        # The stream's last line before it ends says why, as an SSE comment (``: end: ...``): clients
        # that follow the SSE rules skip it, iotcli reports it.
        try:
            last = sent = 0
            for event in backlog:
                last = sent = event["id"]
                yield _sse(event)
            yield ": following\n\n"
            while True:
                if await request.is_disconnected():
                    break
                if queue.empty() and not emu.events.following(queue):
                    yield (
                        f": end: this follower fell more than {FOLLOWER_QUEUE} events behind and was dropped;"
                        f" resume after event {sent}\n\n"
                    )
                    break
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=SSE_KEEPALIVE)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if event is CLOSED:
                    yield ": end: the emulator is stopping\n\n"
                    break
                if event["id"] <= last:
                    continue
                sent = event["id"]
                if kind and not (event["kind"] == kind or event["kind"].startswith(kind + ".")):
                    continue
                yield _sse(event)
        finally:
            emu.events.unfollow(queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(event: dict[str, Any]) -> str:
    return f"id: {event['id']}\nevent: {event['kind']}\ndata: {json.dumps(event)}\n\n"


@routes.get(
    "/_emulator/deliveries",
    summary="Delivery journal: every forward and endpoint call",
    query={
        "status": {
            "type": "string",
            "enum": ["", "pending", "delivered", "dropped", "expired", "failed"],
            "description": "pending|delivered|dropped|failed|expired",
        },
        "connection": "connection id",
        "device": "device id",
        "kind": "endpoint|uplink|downlink_event",
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10_000,
            "description": "default 100, max 10000",
        },
    },
)
async def list_deliveries(request: Request) -> Response:
    emu = emu_of(request)
    await emu.auth.account(request)
    limit = query_int(request, "limit", 100, minimum=1, maximum=10_000) or 100
    filters = {k: request.query_params.get(k) for k in deliveries.FILTERS}
    status = filters["status"]
    if status and status not in deliveries.STATUSES:
        raise ApiProblem(400, f"query parameter 'status' must be one of pending, {', '.join(sorted(FINAL))}")
    return ok(await deliveries.list_deliveries(emu, filters, limit=limit))


#: Delivery ids are numbers (the OpenAPI document says so instead of the generic id pattern).
DELIVERY_ID: dict[str, Any] = {"id": {"type": "string", "pattern": "^[0-9]{1,18}$"}}


def _delivery_id(request: Request) -> int:
    raw = str(request.path_params["id"])
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:  # "²".isdigit(), and int() refuses it
        raise ApiProblem(400, f"invalid delivery id '{raw[:32]}': expected a number")
    return int(raw)


@routes.get("/_emulator/deliveries/{id}", summary="One delivery with every attempt", params=DELIVERY_ID)
async def show_delivery(request: Request) -> Response:
    emu = emu_of(request)
    await emu.auth.account(request)
    return ok(await deliveries.show(emu, _delivery_id(request)))


@routes.post(
    "/_emulator/deliveries/{id}/replay",
    summary="Send a failed, dropped or expired delivery again",
    params=DELIVERY_ID,
)
async def replay_delivery(request: Request) -> Response:
    emu = emu_of(request)
    await emu.auth.account(request)
    did = _delivery_id(request)
    await deliveries.replay(emu, did)
    return ok({"id": str(did), "status": "pending"})
