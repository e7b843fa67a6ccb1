"""Sink routes under /_emulator/sinks: they only parse the request and answer (``SinkService`` decides)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from iotcli.emulator.core import Emulator
from iotcli.emulator.errors import ApiProblem
from iotcli.emulator.events import CLOSED
from iotcli.emulator.http import check_id, ok, path_id, query_int, read_json_object
from iotcli.emulator.routing import RouteTable
from iotcli.emulator.sinks.backend import Plan, SinkService
from iotcli.sinkspec import MAX_DELAY, MAX_SEQUENCE, RESET, TIMEOUT

routes = RouteTable("emulator", tag="sinks")

#: Longest a "timeout" answer holds a request open (real seconds) if the caller never gives up.
HOLD_MAX = 300.0
#: Methods the sink URL takes.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

ANSWER: dict[str, Any] = {
    "oneOf": [
        {"type": "integer", "minimum": 100, "maximum": 599},
        {"type": "string", "enum": [TIMEOUT, RESET]},
        {"type": "string", "pattern": "^[1-5][0-9][0-9]$"},
    ]
}
#: ``503,503,200``: at most MAX_SEQUENCE answers (each takes at least 4 characters with its comma).
_ONE = f"(?:[1-5][0-9][0-9]|{TIMEOUT}|{RESET})"
RESPOND_TEXT: dict[str, Any] = {
    "type": "string",
    "pattern": f"^{_ONE}(?:,{_ONE})*$",
    "maxLength": 4 * MAX_SEQUENCE + 2,
    "example": "503,503,200",
}
#: Delay seconds (the [min, max] form also needs min <= max, which a JSON Schema cannot say).
SECONDS: dict[str, Any] = {"type": "number", "minimum": 0, "maximum": MAX_DELAY}
#: Header names and values as the script check takes them: no CR or LF, a name not empty. (Said as
#: "no match anywhere": a ``$`` would let a final newline through in Python's regular expressions.)
NO_NEWLINE: dict[str, Any] = {"not": {"pattern": "[\r\n]"}}
SCRIPT_PROPERTIES: dict[str, Any] = {
    "respond": {
        "description": "answers in order, one per request: a status, 'timeout' or 'reset'",
        "oneOf": [{"type": "array", "items": ANSWER, "maxItems": MAX_SEQUENCE}, RESPOND_TEXT],
    },
    "default": {**ANSWER, "description": "the answer once the sequence is used up (default 200)"},
    "delay": {
        "description": (
            f"emulated seconds before answering (at most {MAX_DELAY:g}): a number, or [min, max] with"
            " min <= max for a random delay"
        ),
        "oneOf": [SECONDS, {"type": "array", "items": SECONDS, "minItems": 2, "maxItems": 2}],
    },
    "body": {"description": "the answer body: a string as is, anything else as JSON"},
    "headers": {
        "type": "object",
        "propertyNames": {"minLength": 1, **NO_NEWLINE},
        "additionalProperties": {"type": "string", **NO_NEWLINE},
    },
    "downlink": {
        "type": ["object", "null"],
        "description": "class-A loop-back: POST a DevEUI_downlink to the downlinkUrl of each DevEUI_uplink",
        "required": ["payload_hex"],
        "additionalProperties": False,
        "properties": {
            "payload_hex": {"type": "string", "pattern": "^([0-9a-fA-F]{2})+$"},
            "FPort": {"type": "integer", "minimum": 1, "maximum": 224},
        },
    },
}
CREATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,32}$"}, **SCRIPT_PROPERTIES},
}
REPLACE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": SCRIPT_PROPERTIES,
}
SUB_PATH: dict[str, Any] = {"path": {"type": "string", "description": "any sub-path"}}

#: Set while a "reset" answer ends its request, so that uvicorn's note about it is not logged.
_resetting: contextvars.ContextVar[bool] = contextvars.ContextVar("sink_resetting", default=False)


class _QuietReset(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (_resetting.get() and "without completing response" in record.getMessage())


logging.getLogger("uvicorn.error").addFilter(_QuietReset())


def service(request: Request) -> tuple[Emulator, SinkService]:
    emu: Emulator = request.app.state.emu
    return emu, emu.services["sinks"]


@routes.post(
    "/_emulator/sinks", summary="Create a sink: a local destination with scripted answers", body=CREATE_SCHEMA
)
async def create_sink(request: Request) -> Response:
    emu, sinks = service(request)
    await emu.auth.account(request)
    body = await read_json_object(request)
    name = body.get("name")
    if not isinstance(name, str):
        raise ApiProblem(400, "field 'name' is required and must be a string")
    check_id(name, "sink")
    sink, _created = await sinks.create(name, sinks.script_from(body))
    return ok(sink)


@routes.get("/_emulator/sinks", summary="List the sinks")
async def list_sinks(request: Request) -> Response:
    emu, sinks = service(request)
    await emu.auth.account(request)
    return ok(await sinks.list_all())


@routes.get("/_emulator/sinks/{name}", summary="One sink: its URL, script and request count")
async def get_sink(request: Request) -> Response:
    emu, sinks = service(request)
    await emu.auth.account(request)
    return ok(await sinks.get(path_id(request, "name")))


@routes.put("/_emulator/sinks/{name}", summary="Create or replace a sink's script", body=REPLACE_SCHEMA)
async def put_sink(request: Request) -> Response:
    emu, sinks = service(request)
    await emu.auth.account(request)
    name = path_id(request, "name")
    body = await read_json_object(request)
    if "name" in body and body["name"] != name:
        raise ApiProblem(400, "field 'name' cannot differ from the path")
    sink, _created = await sinks.create(name, sinks.script_from(body), replace=True)
    return ok(sink)


@routes.delete("/_emulator/sinks/{name}", summary="Delete a sink and its recorded requests")
async def delete_sink(request: Request) -> Response:
    emu, sinks = service(request)
    await emu.auth.account(request)
    name = path_id(request, "name")
    await sinks.delete(name)
    return ok({"name": name, "status": "deleted"})


@routes.get(
    "/_emulator/sinks/{name}/requests",
    summary="Requests the sink received, oldest first",
    query={
        "after": {
            "type": "integer",
            "minimum": 0,
            "maximum": 2**63 - 1,
            "description": "only requests with a larger id",
        },
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10_000,
            "description": "at most this many (default 100, max 10000)",
        },
        "secrets": "1 to show secret header and query values in clear",
    },
)
async def list_requests(request: Request) -> Response:
    emu, sinks = service(request)
    await emu.auth.account(request)
    after = query_int(request, "after", None, minimum=0)
    limit = query_int(request, "limit", 100, minimum=1, maximum=10_000) or 100
    secrets = request.query_params.get("secrets", "").lower() in {"1", "true", "yes"}
    return ok(await sinks.requests(path_id(request, "name"), after=after, limit=limit, secrets=secrets))


@routes.delete(
    "/_emulator/sinks/{name}/requests", summary="Forget the recorded requests (the sequence restarts)"
)
async def clear_requests(request: Request) -> Response:
    emu, sinks = service(request)
    await emu.auth.account(request)
    name = path_id(request, "name")
    return ok({"name": name, "cleared": await sinks.clear(name)})


async def receive(request: Request) -> Response:
    """The sink's URL: records the request, then answers from the script (no token: it is a destination)."""
    emu, sinks = service(request)
    name = path_id(request, "name")
    sub = request.path_params.get("path")
    body = await request.body()
    plan = await sinks.receive(
        name,
        method=request.method,
        path="" if sub is None else "/" + str(sub),
        query=request.url.query,
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]],
        body=body,
    )
    await sinks.wait(plan.delay)
    if plan.outcome == TIMEOUT:
        await hold(request, emu)
        return Response(status_code=504)
    if plan.outcome == RESET:
        return BrokenAnswer()
    sinks.send_downlink(name, plan)
    return answer(plan)


def answer(plan: Plan) -> Response:
    assert plan.status is not None
    headers = dict(plan.headers)
    media = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    if media is None and plan.body:
        media = (
            "application/json" if plan.body[:1] in (b"{", b"[", b'"') or plan.body.isdigit() else "text/plain"
        )
    return Response(plan.body, status_code=plan.status, headers=headers, media_type=media)


async def hold(request: Request, emu: Emulator) -> None:
    """Keep the request open until the caller gives up, the emulator stops, or ``HOLD_MAX`` passes."""
    journal = emu.events.follow()  # its queue gets CLOSED when the emulator begins to stop

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    async def stopping() -> None:
        while (await journal.get()) is not CLOSED:
            pass

    waiters = [asyncio.ensure_future(disconnected()), asyncio.ensure_future(stopping())]
    try:
        await asyncio.wait(waiters, timeout=HOLD_MAX, return_when=asyncio.FIRST_COMPLETED)
    finally:
        emu.events.unfollow(journal)
        for waiter in waiters:
            waiter.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await waiter


class BrokenAnswer(Response):
    """Starts an answer and closes the connection before its body: the caller sees a broken connection."""

    def __init__(self) -> None:
        super().__init__(b"", status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        _resetting.set(True)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"1024"), (b"connection", b"close")],
            }
        )
        # Returning without the body: the server closes the connection mid-answer.


for _method in METHODS:
    routes.route(
        _method, "/_emulator/sinks/{name}/in", summary="The sink's URL (any method, no token)", auth=False
    )(receive)
    routes.route(
        _method,
        "/_emulator/sinks/{name}/in/{path:path}",
        summary="The sink's URL with a sub-path (any method, no token)",
        auth=False,
        params=SUB_PATH,
    )(receive)
